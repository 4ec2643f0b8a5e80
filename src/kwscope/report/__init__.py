"""The report: the exploration described, then rendered as one offline HTML page and its JSON.

``plan`` (what the page shows: findings, examples, the map's points) <- ``figures`` (drawing,
cached) and ``media`` (audio and images as data URIs) <- ``markup`` (building blocks) <-
``content`` (figure tasks, embedded audio) <- ``sections`` (one renderer a section, by family) <-
``html`` (the page and its description) <- ``build`` (the one part that reads files: it runs the
exploration and decodes the clips the page plays). ``terminal`` formats the CLI's tables.
"""
