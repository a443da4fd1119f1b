# doc/: man pages. paramd.conf.5 is generated from the configuration table and committed;
# tests/integration/man_reference.test fails when it drifts from `paramd --config-reference=man`.
dist_man_MANS = doc/paramd.8 doc/paramd-worker.1 doc/paramctl.1 doc/paramd.conf.5
