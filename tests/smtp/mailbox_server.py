"""The SMTP server of the mail tests: aiosmtpd (Debian's python3-aiosmtpd),
writing each mail it takes to a Maildir, optionally with STARTTLS required
and a login required, and with addresses it refuses. Started by tests/src/smtp.rs; prints "ready" once it
listens, and runs until it is killed.

The aiosmtpd command line has no option for a login, hence this file.
"""

import argparse
import ssl
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--cert", help="PEM certificate (chain) for STARTTLS, which is then required")
    parser.add_argument("--key", help="PEM private key of --cert")
    parser.add_argument("--user", help="a login is then required")
    parser.add_argument("--password")
    parser.add_argument("--refuse", action="append", default=[], help="an address answered 550 at RCPT")
    args = parser.parse_args()

    class Handler(Mailbox):
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            if address in args.refuse:
                return "550 5.1.1 No such user here"
            envelope.rcpt_tos.append(address)
            return "250 OK"

    options = {}
    if args.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
        options.update(tls_context=context, require_starttls=True)
    if args.user:
        def authenticate(server, session, envelope, mechanism, data):
            ok = (
                isinstance(data, LoginPassword)
                and data.login.decode() == args.user
                and data.password.decode() == args.password
            )
            # Not handled here: aiosmtpd answers 235 or 535 itself.
            return AuthResult(success=ok, handled=False)

        options.update(authenticator=authenticate, auth_required=True, auth_require_tls=bool(args.cert))

    controller = Controller(Handler(args.maildir), hostname="127.0.0.1", port=args.port, **options)
    controller.start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
