//! End-to-end tests live in `tests/`; they drive the stack started by `make test`.
