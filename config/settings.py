"""Settings, read from the environment (see README, "Configurazione").

Nothing set: DEBUG on, SQLite in the project folder. Production: DEBUG=0, a real SECRET_KEY,
ALLOWED_HOSTS and DATABASE_URL=postgres://...
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on", "si", "sì"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)

_INSECURE_KEY = "django-insecure-dev-only-key-do-not-use-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off (production settings refuse a default key)."
        )
    SECRET_KEY = _INSECURE_KEY
elif not DEBUG and (SECRET_KEY == _INSECURE_KEY or len(SECRET_KEY) < 32):
    raise ImproperlyConfigured("SECRET_KEY is too short or is the development key.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "bootstrap_italia_template",
    "django_tables2",
    "import_export",
    "simple_history",
    "csp",
    "axes",
    "organization",
    "performance",
    "reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.middleware.SecurityHeadersMiddleware",
    "config.middleware.PrivateCacheMiddleware",
    "csp.middleware.CSPMiddleware",
    "config.middleware.RequestSizeLimitMiddleware",
    "config.middleware.DatabaseUnavailableMiddleware",
    "config.db.PublicReadReplicaMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
    "config.nul.NulInputMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "performance.context_processors.workspace",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
# An optional read replica (PostgreSQL streaming replication) for the public pages: config/db.py.
if os.environ.get("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = dj_database_url.parse(
        os.environ["DATABASE_REPLICA_URL"],
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["config.db.ReadReplicaRouter"]

# The cache holds little (which file is the public PDF of a year, reports.relazione.pdf_jobs): by
# default each process has its own; with CACHE_URL (redis://host:6379/1) every process and
# server shares one, and a new PDF or a change of state is seen everywhere at once.
if os.environ.get("CACHE_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["CACHE_URL"],
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "ciclo"),
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Log-in rate limiting (django-axes): its backend first, so a locked-out user is refused before
# the password is checked. Attempts live in the database, shared by every application server.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "it"
LANGUAGES = [("it", "Italiano")]
TIME_ZONE = "Europe/Rome"
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BASE_DIR / "locale"]

STATIC_URL = "static/"
# WhiteNoise serves the static files from the application; in production the collected files
# have hashed names (cached for a year) and are pre-compressed (gzip, brotli when available).
# Tests and development use the plain storage: no collectstatic needed.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "config.storage.StaticFilesStorage"  # WhiteNoise's compressed manifest
    },
}
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))

# The Relazione's PDF (reports/relazione/pdf_jobs.py): rendered by `manage.py render_pdfs` (the
# worker);
# in development also in a thread of the web process. PUBLIC_BASE_URL: the site's public address,
# where the PDF's links (the open data) point, e.g. https://performance.ente.it/
PDF_RENDER_INLINE_THREAD = env_bool("PDF_RENDER_INLINE_THREAD", DEBUG)
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "")

# The workflow (reports/workflow/services/). Optional PAdES signature (pyHanko) of the PDFs frozen
# at validation: paths of the signer's key and certificate (PEM or DER), optional intermediate
# certificates, the key's passphrase. Empty: the PDFs are not signed.
PDF_SIGNING_KEY = os.environ.get("PDF_SIGNING_KEY", "")
PDF_SIGNING_CERT = os.environ.get("PDF_SIGNING_CERT", "")
PDF_SIGNING_CHAIN = os.environ.get("PDF_SIGNING_CHAIN", "")
PDF_SIGNING_PASSPHRASE = os.environ.get("PDF_SIGNING_PASSPHRASE", "")
# A value recorded by a user more than this many days after the end of its period is shown to
# the OIV as a late entry.
WORKFLOW_LATE_ENTRY_DAYS = int(os.environ.get("WORKFLOW_LATE_ENTRY_DAYS", "30"))

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "workspace:home"
LOGOUT_REDIRECT_URL = "login"

SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", str(8 * 3600)))
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# ---------------------------------------------------------------------------------- security
# Headers on every response: HSTS (production), CSP (django-csp), Referrer-Policy,
# Permissions-Policy, X-Content-Type-Options, Cross-Origin-Opener-Policy, X-Frame-Options.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "config.views.csrf_failure"  # templates/403_csrf.html
# No feature of the browser is used by the portal: all denied (config/middleware.py).
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "browsing-topics",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
}
# Content Security Policy (django-csp 4): everything from this site only, no inline script or
# style (templates keep JavaScript in static/js and styles in static/css), no plug-ins, no
# framing; the SVG charts are inline <svg> elements and the icons a same-site sprite.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "upgrade-insecure-requests": not DEBUG,
    },
}

CSRF_COOKIE_HTTPONLY = True  # the scripts read the token from the form, never the cookie
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # "__Host-": the browser sends the cookie only over HTTPS, to this host, for the whole site.
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # The load balancer probes the health endpoint over plain HTTP on the private network.
    SECURE_REDIRECT_EXEMPT = [r"^salute/$"]
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# Log-in rate limiting (django-axes): after AXES_FAILURE_LIMIT wrong passwords for the same
# user name from the same address, that pair is locked out for AXES_COOLOFF_TIME (an Italian page,
# HTTP 429); a successful log-in resets the count. Wider limits in the same cool-off time
# (config/login_limits.py): AXES_IP_FAILURE_LIMIT failures from one address, whatever the user
# names, lock that address; AXES_USERNAME_FAILURE_LIMIT failures for one user name, whatever the
# addresses, lock that user name (0 turns a wider limit off). Behind a reverse proxy the client
# address is the one the proxy appends to X-Forwarded-For (TRUSTED_PROXY_COUNT proxies in front).
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_IP_FAILURE_LIMIT = int(os.environ.get("AXES_IP_FAILURE_LIMIT", "30"))
AXES_USERNAME_FAILURE_LIMIT = int(os.environ.get("AXES_USERNAME_FAILURE_LIMIT", "10"))
AXES_COOLOFF_TIME = float(os.environ.get("AXES_COOLOFF_HOURS", "0.25"))  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_HANDLER = "config.login_limits.LimitsHandler"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "config.views.lockout"  # templates/registration/lockout.html, 429
AXES_CLIENT_IP_CALLABLE = "config.middleware.client_ip"
AXES_VERBOSE = False
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0" if DEBUG else "1"))

# Upload limits. The largest form (a context table of the Relazione: 500 rows x 30 columns) needs
# ~15.500 fields; non-file data up to 2,5 MB in memory; a file over 2,5 MB goes to a temporary
# file; no request body over MAX_REQUEST_BYTES (413, before Django reads it: the imports accept
# files up to 5 MB, performance.services.imports.MAX_UPLOAD_BYTES).
DATA_UPLOAD_MAX_NUMBER_FIELDS = 16_000
DATA_UPLOAD_MAX_MEMORY_SIZE = int(2.5 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = int(2.5 * 1024 * 1024)
MAX_REQUEST_BYTES = int(os.environ.get("MAX_REQUEST_BYTES", str(6 * 1024 * 1024)))
FILE_UPLOAD_PERMISSIONS = 0o640
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o750

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # A 4xx (a 403 from PermissionDenied, a bad Host header…) is one line, without the traceback
    # Django attaches; a 500 keeps its traceback (config/log_filters.py).
    "filters": {"client_errors": {"()": "config.log_filters.ClientErrorsWithoutTraceback"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["client_errors"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # django-axes logs every log-in at INFO; its attempts and lock-outs are in the database
    # (admin: "Axes"), so only its warnings go to the log.
    "loggers": {"axes": {"level": "WARNING"}},
}

# Audit trail: change reasons (e.g. a neutralization's motivation) are free text of any length.
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True
