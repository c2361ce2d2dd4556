"""sr_core: x3 super-resolution by audience: the runtime (models, weights, image I/O, engine), the paper's protocol (protocol/), the offline tools (tools/) and the CLI."""
