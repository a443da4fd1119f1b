# systemd/: service units, filled with the configured paths at build time.
systemdsystemunitdir = $(prefix)/lib/systemd/system
systemdsystemunit_DATA = systemd/paramd.service systemd/paramd-worker@.service
CLEANFILES += $(systemdsystemunit_DATA)
EXTRA_DIST += systemd/paramd.service.in systemd/paramd-worker@.service.in

subst_unit = $(MKDIR_P) systemd && \
	sed -e 's|@bindir[@]|$(bindir)|g' -e 's|@docdir[@]|$(docdir)|g'
systemd/paramd.service: $(srcdir)/systemd/paramd.service.in Makefile
	$(AM_V_GEN)$(subst_unit) $(srcdir)/systemd/paramd.service.in >$@
systemd/paramd-worker@.service: $(srcdir)/systemd/paramd-worker@.service.in Makefile
	$(AM_V_GEN)$(subst_unit) $(srcdir)/systemd/paramd-worker@.service.in >$@
