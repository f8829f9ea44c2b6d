"""AUTOMATIC1111's web API (`/sdapi/v1/...`) spoken by the studio, so A1111 clients work against it unchanged.

`fields` holds A1111's request shapes and defaults, `translate` turns a request into recipes (pure),
`controlnet` reads sd-webui-controlnet's units, `jobs` keeps what `progress` reports, and `routes`
serves it all beside the window. Every picture made here is a node of the studio's history.
"""
