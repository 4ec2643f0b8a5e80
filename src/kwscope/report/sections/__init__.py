"""The report's sections, by family: ``dataset`` (what is in it), ``clips`` (single recordings),
``quality`` (what the pass measured across the dataset). Each renderer takes the shared
:class:`~kwscope.report.markup.PageContext` and its section number and returns the section's HTML."""
