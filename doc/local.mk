# doc/: man pages. paramd.conf.5 is generated from the configuration table and committed;
# tests/integration/man_reference.test fails when it drifts from `paramd --config-reference=man`.
dist_man_MANS = doc/paramd.8 doc/paramd-worker.1 doc/paramctl.1 doc/paramd.conf.5 \
	doc/paramd-sim.1 doc/libparamd-client.3

# One page documents the whole client library; `man pd_client_pull` finds it through .so
# links, made at install time rather than kept as one-line files.
client_man3_links = pd_client_connect pd_client_connect_opts pd_client_dim pd_client_job_id \
	pd_client_pull pd_client_push pd_client_pull_send pd_client_pull_recv pd_client_push_send \
	pd_client_push_recv pd_client_push_send_nocopy pd_client_pull_keys pd_client_push_keys \
	pd_client_pull_f32 pd_client_push_f32 \
	pd_client_last_error pd_client_strerror pd_client_free
install-data-hook: install-client-man3-links
uninstall-hook: uninstall-client-man3-links
install-client-man3-links:
	$(MKDIR_P) '$(DESTDIR)$(man3dir)'
	for f in $(client_man3_links); do \
	    echo '.so man3/libparamd-client.3' >'$(DESTDIR)$(man3dir)/'$$f.3 || exit 1; \
	done
uninstall-client-man3-links:
	for f in $(client_man3_links); do rm -f '$(DESTDIR)$(man3dir)/'$$f.3; done
.PHONY: install-client-man3-links uninstall-client-man3-links
