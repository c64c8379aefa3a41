"""The blog app: authors, posts, comments, their JSON API, HTML pages and the feed."""
