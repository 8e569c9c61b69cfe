"""Reaching a guest: where its SSH answers, readiness stages, boot watching on the
console, and the NoCloud seed with its cloud-config."""
