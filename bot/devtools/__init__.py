"""Tools around the bot, never on its runtime path: the provider sandbox, the local Bot API
and the offline demo.

``bot/app.py`` (the composition root) and everything it imports stay out of this package
(``tests/unit/test_runtime_imports.py``): the command line (``bot/__main__.py``) starts the
sandbox for ``--sandbox``, ``sandbox`` and ``demo`` and hands the bot its URL.

- ``sandbox/``: the DGS Payment Links API, its payer page and test controls;
- ``botapi/``: a local Telegram Bot API (the demo's Telegram, the tests' fake);
- ``demo/``: ``paylinks-bot demo``, all of it and a web chat, offline;
- ``accept_language.py``: the browser's language, for the payer page and the web chat.

Their ASGI apps are served by ``bot/asgi_server.py``, which the bot's webhook uses too.
"""
