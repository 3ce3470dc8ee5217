"""Writes a test CA and certificates for the TypeScript client's TLS tests (test/tls.test.ts), made with
trustme from the repository's virtualenv:

    certs.py DIR    -> DIR/ca.pem, DIR/server.pem, DIR/server.key (for 127.0.0.1 and localhost),
                       DIR/client.pem, DIR/client.key (a client certificate of the same CA, for mTLS),
                       DIR/other-ca.pem (a CA that signed none of them)
"""

from __future__ import annotations

import sys
from pathlib import Path

import trustme


def main() -> None:
    out = Path(sys.argv[1])
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(out / "ca.pem"))
    server = ca.issue_cert("127.0.0.1", "localhost")
    server.private_key_pem.write_to_path(str(out / "server.key"))
    server.cert_chain_pems[0].write_to_path(str(out / "server.pem"))
    for pem in server.cert_chain_pems[1:]:
        pem.write_to_path(str(out / "server.pem"), append=True)
    client = ca.issue_cert("effectd-ts-test-client")
    client.private_key_pem.write_to_path(str(out / "client.key"))
    client.cert_chain_pems[0].write_to_path(str(out / "client.pem"))
    trustme.CA().cert_pem.write_to_path(str(out / "other-ca.pem"))


if __name__ == "__main__":
    main()
