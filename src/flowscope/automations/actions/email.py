"""E-mail over SMTP (`FLOWSCOPE_SMTP_*`), sent with smtplib in the dispatcher's thread.

The Message-ID is derived from the idempotency key, so a message resent after a crash has the
same id as the first and a mail system can drop the duplicate.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

from flowscope.automations.actions.base import Context, Outcome, failed
from flowscope.automations.templating import TemplateFailed, render


def run_email(ctx: Context, action: dict[str, Any]) -> Outcome:
    settings = ctx.settings
    try:
        subject = render("subject", action["subject"], ctx.data)
        body = render("body", action["body"], ctx.data)
    except TemplateFailed as exc:
        return failed({"to": action["to"]}, str(exc))
    request = {"to": action["to"], "subject": subject, "body": body}
    if not settings.smtp_host:
        return failed(request, "FLOWSCOPE_SMTP_HOST is not set: e-mail cannot be sent")
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(action["to"])
    message["Subject"] = subject.replace("\r", " ").replace("\n", " ")
    message["Message-ID"] = f"<{ctx.idempotency_key}@flowscope>"
    message["Idempotency-Key"] = ctx.idempotency_key
    message.set_content(body)
    timeout = settings.automation_timeout_seconds
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password or "")
            refused = smtp.send_message(message)
    except smtplib.SMTPResponseException as exc:
        error = exc.smtp_error
        detail = error.decode(errors="replace") if isinstance(error, bytes) else str(error)
        return Outcome(
            ok=False,
            request=request,
            status=exc.smtp_code,
            error=f"the SMTP server answered {exc.smtp_code} {detail}"[:2000],
            retryable=400 <= exc.smtp_code < 500,
        )
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        return failed(request, f"SMTP: {type(exc).__name__}: {exc}", retryable=True)
    if refused:
        return failed(request, f"refused recipients: {', '.join(sorted(refused))}")
    return Outcome(ok=True, request=request, status=250, excerpt="accepted")
