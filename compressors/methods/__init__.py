"""Built-in compression methods, one module per family. Each registers its handlers on import and
imports its heavy library only inside the handler, so importing them all is cheap."""
