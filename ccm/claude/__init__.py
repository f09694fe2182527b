"""Claude Code as ccm's first client: the model catalogue ccm offers it (/v1/models and the
aliases Claude Code keeps), `ccm code`, `ccm env` and `ccm setup claude`."""
