"""The serving machinery beside app.py (the UI), testable without a browser: model runs that stop when nobody
waits (`runs`), ASGI guards on request bodies and the upload folder (`guards`), the serving limits (`limits`),
input checks before any pixel is decoded (`inputs`), ZeroGPU reservations (`zerogpu`), the model runs behind the
tabs and the results they keep (`jobs`), the words visitors see of the server's set-up (`wording`), the
page's words, examples and look (`page`), and what the explanation tab shows after an explanation (`views`)."""
