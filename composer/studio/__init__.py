"""composer studio: a local web page to compose, listen, and keep going (`composer studio`).

`server.create_app` builds the Starlette app around one `jobs.Studio` (the model, loaded once, and its
compose queue); `server.serve` runs it with uvicorn. Kept import-light: the seed-checking child
process imports `composer.studio.jobs` and must not pull in the web stack or torch.
"""
