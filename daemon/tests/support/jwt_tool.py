"""Makes JWTs for enmesh's certificate tests with Python's `cryptography` (independent of the
Rust code under test). Usage:
  jwt_tool.py keygen PRIVATE.pem PUBLIC.pem
  jwt_tool.py es256 PRIVATE.pem HEADER_JSON CLAIMS_JSON
  jwt_tool.py hs256 SECRET_FILE HEADER_JSON CLAIMS_JSON
  jwt_tool.py none HEADER_JSON CLAIMS_JSON
  jwt_tool.py hmac KEY_B64 MESSAGE          (standard base64 HMAC-SHA256, for the tekmac)
"""
import base64
import hashlib
import hmac
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signing_input(header: str, claims: str) -> str:
    return b64u(header.encode()) + "." + b64u(claims.encode())


def main() -> None:
    cmd = sys.argv[1]
    if cmd == "keygen":
        key = ec.generate_private_key(ec.SECP256R1())
        with open(sys.argv[2], "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        with open(sys.argv[3], "wb") as f:
            f.write(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    elif cmd == "es256":
        with open(sys.argv[2], "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
        msg = signing_input(sys.argv[3], sys.argv[4])
        r, s = decode_dss_signature(key.sign(msg.encode(), ec.ECDSA(hashes.SHA256())))
        print(msg + "." + b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big")))
    elif cmd == "hs256":
        with open(sys.argv[2], "rb") as f:
            secret = f.read()
        msg = signing_input(sys.argv[3], sys.argv[4])
        print(msg + "." + b64u(hmac.new(secret, msg.encode(), hashlib.sha256).digest()))
    elif cmd == "none":
        print(signing_input(sys.argv[2], sys.argv[3]) + ".")
    elif cmd == "hmac":
        key = base64.b64decode(sys.argv[2])
        print(base64.b64encode(hmac.new(key, sys.argv[3].encode(), hashlib.sha256).digest()).decode())
    else:
        raise SystemExit("unknown command " + cmd)


if __name__ == "__main__":
    main()
