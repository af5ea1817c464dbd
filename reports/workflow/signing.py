"""Optional PAdES signature (pyHanko) of the PDFs frozen at validation: the Relazione and the
documento di validazione.

Configured in the settings (environment variables, see README):

- ``PDF_SIGNING_KEY``: path of the private key (PEM or DER);
- ``PDF_SIGNING_CERT``: path of the signer's certificate (PEM or DER);
- ``PDF_SIGNING_CHAIN``: optional path of the intermediate certificates (PEM);
- ``PDF_SIGNING_PASSPHRASE``: the key's passphrase, if any.

Without key and certificate nothing is signed (``signing_configured()`` is False). A configured
but unusable key is an error (SigningError), never a silently unsigned document.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from django.conf import settings

FIELD_NAME = "FirmaEnte"


class SigningError(Exception):
    pass


@dataclass(frozen=True)
class Signed:
    content: bytes
    signer: str  # the certificate's subject, human friendly


def signing_configured() -> bool:
    return bool(getattr(settings, "PDF_SIGNING_KEY", "")) and bool(
        getattr(settings, "PDF_SIGNING_CERT", "")
    )


def _signer():
    from pyhanko.sign import signers

    passphrase = getattr(settings, "PDF_SIGNING_PASSPHRASE", "") or None
    chain = getattr(settings, "PDF_SIGNING_CHAIN", "") or None
    try:
        signer = signers.SimpleSigner.load(
            settings.PDF_SIGNING_KEY,
            settings.PDF_SIGNING_CERT,
            ca_chain_files=(chain,) if chain else None,
            key_passphrase=passphrase.encode() if passphrase else None,
        )
    except Exception as error:  # pyHanko raises several kinds; all mean "cannot sign"
        raise SigningError(f"chiave o certificato di firma non leggibili ({error})") from error
    if signer is None:
        raise SigningError("chiave o certificato di firma non leggibili")
    return signer


def sign_pdf(content: bytes, *, reason: str, location: str = "") -> Signed:
    """The PDF with a PAdES (ETSI.CAdES.detached) signature added as an incremental update:
    the signed bytes are the original followed by the signature."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    signer = _signer()
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(content))
        metadata = signers.PdfSignatureMetadata(
            field_name=FIELD_NAME,
            subfilter=fields.SigSeedSubFilter.PADES,
            md_algorithm="sha256",
            reason=reason,
            location=location or None,
        )
        output = signers.sign_pdf(writer, metadata, signer=signer)
    except Exception as error:
        raise SigningError(f"firma del PDF non riuscita ({error})") from error
    subject = signer.signing_cert.subject.human_friendly
    return Signed(output.getvalue(), subject)
