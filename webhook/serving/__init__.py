"""The HTTP server: the AdmissionReview wire format, the ASGI app, uvicorn, TLS, deadlines, metrics and logs."""
