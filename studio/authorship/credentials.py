"""Content Credentials (C2PA): an exported picture with its lineage signed in, and any picture's credentials read back.

The studio signs with a key it makes on first use in its own folder: a certificate it issues itself,
labelled so (no one vouches for it, and verifiers say "untrusted"), or with the artist's own
certificate and key given by path. The exported picture carries its pixels and the manifest only:
no text chunk of ours, so no local path, user or folder name leaves the computer.

c2pa (a native library) and cryptography are imported where they are used: importing the session,
as every start and the GPU benchmark do, loads neither.
"""

from __future__ import annotations

import datetime
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from studio.authorship.lineage import HUMAN, MACHINE, Step
from studio.closeness import MEASURE
from studio.errors import InputError

GENERATOR = "the studio"
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
SELF_ISSUED = "Self-issued by the studio (not verified by anyone)"
FORMATS = {"png": ("image/png", "PNG"), "jpeg": ("image/jpeg", "JPEG")}
_CHAIN, _KEY = "signing-chain.pem", "signing-key.pem"
CLOSENESS_LABEL = "studio.closeness"  # the exported picture's closeness to each outside picture of its lineage


class CredentialsError(InputError):
    """A picture cannot be signed or read as asked; the message says what to do."""


@dataclass(frozen=True)
class Identity:
    """Who signs: a certificate chain (leaf first) and its private key, both PEM; and whether the studio made it."""

    chain: bytes
    key: bytes
    self_issued: bool


@dataclass(frozen=True)
class Verification:
    """What a picture's credentials say: none, valid, or invalid (and whether the picture changed after signing)."""

    state: str  # "none", "Valid", "Invalid"
    codes: tuple[str, ...] = ()
    signer: str = ""
    manifest: dict[str, Any] | None = None

    @property
    def valid(self) -> bool:
        return self.state in ("Valid", "Trusted")

    @property
    def changed_after_signing(self) -> bool:
        return any(code.endswith("dataHash.mismatch") for code in self.codes)

    @property
    def closeness(self) -> list[dict[str, Any]]:
        """What the `studio.closeness` assertion says of each outside picture ([] without one)."""
        for assertion in (self.manifest or {}).get("assertions") or []:
            if isinstance(assertion, dict) and assertion.get("label") == CLOSENESS_LABEL:
                pictures = (assertion.get("data") or {}).get("pictures")
                return [entry for entry in pictures if isinstance(entry, dict)] if isinstance(pictures, list) else []
        return []


class Signing:
    """Where the studio's own key lives (made on first use), or the artist's own certificate and key."""

    def __init__(self, folder: Path, *, certificate: Path | None = None, key: Path | None = None) -> None:
        if (certificate is None) != (key is None):
            raise CredentialsError("give both the certificate and its key, or neither (the studio then signs)")
        self.folder, self.certificate, self.key = folder, certificate, key

    def identity(self) -> Identity:
        if self.certificate is not None and self.key is not None:
            return artist_identity(self.certificate, self.key)
        return studio_identity(self.folder)


def studio_identity(folder: Path) -> Identity:
    """The studio's own signing identity, made on first use in `folder` (a local CA and a leaf it signs)."""
    chain_file, key_file = folder / _CHAIN, folder / _KEY
    if not (chain_file.is_file() and key_file.is_file()):
        folder.mkdir(parents=True, exist_ok=True)
        chain, key = _self_issued_chain()
        key_file.write_bytes(key)
        os.chmod(key_file, 0o600)
        chain_file.write_bytes(chain)
    return Identity(chain_file.read_bytes(), key_file.read_bytes(), self_issued=True)


def artist_identity(certificate: Path, key: Path) -> Identity:
    """The artist's own certificate chain (PEM, leaf first) and private key (PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        chain, private = Path(certificate).read_bytes(), Path(key).read_bytes()
        serialization.load_pem_private_key(private, password=None)
        x509.load_pem_x509_certificates(chain)
    except (OSError, ValueError) as error:
        raise CredentialsError(f"certificate/key: cannot read them as PEM ({error})") from None
    return Identity(chain, _pkcs8(private), self_issued=False)


def export(
    picture: Path, steps: list[Step], identity: Identity, picture_of, destination: Path, kind: str = "png"
) -> Path:
    """Write `picture` as `kind` with a signed manifest of `steps`; the step pictures become its ingredients."""
    import c2pa

    if kind not in FORMATS:
        raise CredentialsError(f"format: {kind!r}; export as png or jpeg")
    mime, pil_format = FORMATS[kind]
    source = io.BytesIO()
    with Image.open(picture) as image:
        image.convert("RGB").save(source, format=pil_format)  # pixels only: none of our text chunks
    builder = c2pa.Builder(json.dumps(manifest(steps, destination.name, mime)))
    for position, step in enumerate(steps[:-1]):
        relationship = "parentOf" if position == len(steps) - 2 else "componentOf"
        with open(picture_of(step.picture), "rb") as stream:
            builder.add_ingredient(
                json.dumps({"title": step.picture, "relationship": relationship}), "image/png", stream
            )
    for step in steps:
        for outside in step.outside:
            with open(picture_of(outside.file), "rb") as stream:
                title = {"title": f"outside picture {outside.sha256[:16]}", "relationship": "inputTo"}
                builder.add_ingredient(json.dumps(title), "image/png", stream)
    signer = c2pa.Signer.from_info(
        c2pa.C2paSignerInfo(alg=b"es256", sign_cert=identity.chain, private_key=identity.key, ta_url=None)
    )
    source.seek(0)
    destination.parent.mkdir(parents=True, exist_ok=True)
    with open(destination, "w+b") as target:
        try:
            builder.sign(signer, mime, source, target)
        except c2pa.C2paError as error:
            raise CredentialsError(f"signing failed: {error}; check the certificate and key") from None
    return destination


def manifest(steps: list[Step], title: str, mime: str) -> dict[str, Any]:
    """The manifest: `c2pa.created` for the first generation, `c2pa.edited` for each step after it, with parameters."""
    actions = []
    for position, step in enumerate(steps):
        machine = next((act for act in step.acts if act.by == MACHINE), None)
        parameters: dict[str, Any] = {
            "studio.step": step.node_id,
            "studio.action": step.action,
            "studio.human": [
                {"kind": act.kind, "words": act.words, **act.figures} for act in step.acts if act.by == HUMAN
            ],
            "studio.machine": dict(machine.figures) if machine else {},
            "studio.outside": [
                {"sha256": source.sha256, "origin": source.origin, "licence": source.licence} for source in step.outside
            ],
        }
        if position == 0:
            actions.append(
                {"action": "c2pa.created", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA, "parameters": parameters}
            )
        else:
            actions.append({"action": "c2pa.edited", "parameters": parameters})
    assertions: list[dict[str, Any]] = [{"label": "c2pa.actions.v2", "data": {"actions": actions}}]
    if steps and steps[-1].closeness:  # what a viewer needs to judge an i2i picture: how much of each source is left
        pictures = [entry.to_dict() for entry in steps[-1].closeness]
        assertions.append({"label": CLOSENESS_LABEL, "data": {"measure": MEASURE, "pictures": pictures}})
    return {
        "claim_generator_info": [{"name": GENERATOR, "version": "1"}],
        "title": title,
        "format": mime,
        "assertions": assertions,
    }


def verify(picture: Path) -> Verification:
    """Read a picture's credentials: none, or the manifest with its validation state and codes."""
    import c2pa

    try:
        reader = c2pa.Reader(str(picture))
    except c2pa.C2paError:
        return Verification("none")
    data = json.loads(reader.json())
    active = data.get("manifests", {}).get(data.get("active_manifest") or "", {})
    codes = tuple(status.get("code", "") for status in data.get("validation_status") or [])
    issuer = (active.get("signature_info") or {}).get("issuer", "")
    return Verification(data.get("validation_state", "Invalid"), codes, issuer, active)


def _self_issued_chain() -> tuple[bytes, bytes]:
    """A local CA and a leaf it signs (C2PA wants a chain, not a self-signed leaf), ES256, ten years."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(common: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, common),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, SELF_ISSUED),
            ]
        )

    def usage(*, sign_certificates: bool) -> x509.KeyUsage:
        return x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=sign_certificates, crl_sign=sign_certificates, encipher_only=False,
            decipher_only=False,
        )  # fmt: skip

    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=3650)
    ca = (
        x509.CertificateBuilder(issuer_name=name("studio signing CA"), subject_name=name("studio signing CA"))
        .not_valid_before(start)
        .not_valid_after(end)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage(sign_certificates=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder(issuer_name=ca.subject, subject_name=name("studio artist"))
        .not_valid_before(start)
        .not_valid_after(end)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(sign_certificates=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    chain = leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    return chain, _pkcs8(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def _pkcs8(pem: bytes) -> bytes:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(pem, password=None)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
