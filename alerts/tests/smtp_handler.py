"""An aiosmtpd handler for the email notifier's tests.

Started by tests/email.rs as
    python3 -m aiosmtpd -n -l 127.0.0.1:PORT -c smtp_handler.Recorder OUT_DIR
with this folder on PYTHONPATH. Recipients decide the answer to RCPT TO:
    tempfail...@  -> 451 (temporary: the notifier must say retryable)
    reject...@    -> 550 (permanent: the notifier must say not retryable)
    anything else -> 250, and each accepted message is written to OUT_DIR/<n>.json, decoded:
    {"from", "to", "subject", "content_type", "parts": [{"content_type", "text"}]}
"""

import email
import email.policy
import json
import os


class Recorder:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.count = 0
        os.makedirs(out_dir, exist_ok=True)

    @classmethod
    def from_cli(cls, parser, *args):
        # aiosmtpd's CLI passes its CLASSARGS here; ours is the output folder.
        if len(args) != 1:
            parser.error("smtp_handler.Recorder takes one argument: the output folder")
        return cls(args[0])

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0]
        if local.startswith("tempfail"):
            return "451 4.3.0 mailbox busy, try again later"
        if local.startswith("reject"):
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        parts = []
        for part in msg.walk():
            if part.is_multipart():
                continue
            parts.append({"content_type": part.get_content_type(), "text": part.get_content()})
        record = {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "subject": str(msg["subject"]),
            "content_type": msg.get_content_type(),
            "parts": parts,
        }
        self.count += 1
        path = os.path.join(self.out_dir, f"{self.count}.json")
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(path + ".tmp", path)
        return "250 Message accepted for delivery"
