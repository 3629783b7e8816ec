"""Host library of the SpAtten accelerator: device protocol, command encoding, memory image
(``host.driver``). Imports only ``golden``; the verification package, the CLI and the
benchmarks build on it (docs/architecture.md, "Who may import whom")."""
