"""A small blog: authors, posts with cover images, comments, HTML pages and an Atom feed."""
