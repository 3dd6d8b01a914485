"""PayLinks: DGS payment links from Telegram."""

import os

# python-telegram-bot 22 is moving durations (RetryAfter.retry_after …) from numbers to
# timedelta and warns on every 429 until told we use the new form. We do, everywhere.
os.environ.setdefault("PTB_TIMEDELTA", "true")
