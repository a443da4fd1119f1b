# systemd/: service units (filled with the configured paths at build time), the sysusers.d
# entry of the paramd user, and the example configurations, installed as
# $(sysconfdir)/paramd/*.example (never over a real paramd.conf or worker.conf: copy them).
systemdsystemunitdir = $(prefix)/lib/systemd/system
systemdsystemunit_DATA = systemd/paramd.service systemd/paramd-worker@.service
CLEANFILES += $(systemdsystemunit_DATA)
EXTRA_DIST += systemd/paramd.service.in systemd/paramd-worker@.service.in \
	systemd/paramd.sysusers

paramdconfdir = $(sysconfdir)/paramd
dist_paramdconf_DATA = systemd/paramd.conf.example systemd/worker.conf.example

sysusersdir = $(prefix)/lib/sysusers.d
install-data-local: install-sysusers
uninstall-local: uninstall-sysusers
install-sysusers:
	$(MKDIR_P) '$(DESTDIR)$(sysusersdir)'
	$(INSTALL_DATA) $(srcdir)/systemd/paramd.sysusers '$(DESTDIR)$(sysusersdir)/paramd.conf'
uninstall-sysusers:
	rm -f '$(DESTDIR)$(sysusersdir)/paramd.conf'
.PHONY: install-sysusers uninstall-sysusers

subst_unit = $(MKDIR_P) systemd && \
	sed -e 's|@bindir[@]|$(bindir)|g' -e 's|@sbindir[@]|$(sbindir)|g' -e 's|@docdir[@]|$(docdir)|g' \
	    -e 's|@sysconfdir[@]|$(sysconfdir)|g'
systemd/paramd.service: $(srcdir)/systemd/paramd.service.in Makefile
	$(AM_V_GEN)$(subst_unit) $(srcdir)/systemd/paramd.service.in >$@
systemd/paramd-worker@.service: $(srcdir)/systemd/paramd-worker@.service.in Makefile
	$(AM_V_GEN)$(subst_unit) $(srcdir)/systemd/paramd-worker@.service.in >$@
