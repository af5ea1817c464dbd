import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()
# Everything loaded at start-up is long-lived: keep it out of the garbage collector's scans,
# which otherwise dominate requests that build many short-lived objects (scoring a big plan).
gc.freeze()
