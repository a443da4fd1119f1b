# worker/: libparamd-client (installed, exports only pd_client_*), and paramd-worker.
# The library's sources are compiled once, into libpdclient.la, which both link.
noinst_LTLIBRARIES += worker/libpdclient.la
worker_libpdclient_la_SOURCES = worker/client.c worker/client_reads.c worker/client_impl.h \
	worker/client_internal.h worker/paramd/client.h
worker_libpdclient_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/worker
worker_libpdclient_la_CFLAGS = $(AM_CFLAGS) $(ZMQ_CFLAGS)
worker_libpdclient_la_LIBADD = common/libpdwire.la

lib_LTLIBRARIES += worker/libparamd-client.la
worker_libparamd_client_la_SOURCES =
worker_libparamd_client_la_LIBADD = worker/libpdclient.la
# soname libparamd-client.so.1 (Debian package libparamd-client1). -version-info 2:0:1:
# interface 2 (PD_CLIENT_API_VERSION 2 added pd_client_push_send_nocopy, pd_client_pull_keys,
# pd_client_push_keys, pd_client_pull_f32 and pd_client_push_f32) still serves programs built
# for interface 1, so the soname stays.
# Exported: exactly the functions of <paramd/client.h>, listed in libparamd-client.sym
# (client.c has more pd_client_* functions, for paramd-worker, which links it statically).
worker_libparamd_client_la_LDFLAGS = $(AM_LDFLAGS) -version-info 2:0:1 \
	-export-symbols $(srcdir)/worker/libparamd-client.sym
EXTRA_DIST += worker/libparamd-client.sym
paramdincludedir = $(includedir)/paramd
paramdinclude_HEADERS = worker/paramd/client.h
# The library is found through pkg-config or -lparamd-client: a libtool archive (.la) in
# $(libdir) is of no use to anyone, and Debian's policy says not to ship one.
install-exec-hook:
	rm -f '$(DESTDIR)$(libdir)/libparamd-client.la'
# ... and without it libtool's uninstall does not know the library's files: remove them here.
uninstall-hook: uninstall-client-library
.PHONY: uninstall-client-library
uninstall-client-library:
	rm -f '$(DESTDIR)$(libdir)'/libparamd-client.so '$(DESTDIR)$(libdir)'/libparamd-client.so.* \
		'$(DESTDIR)$(libdir)/libparamd-client.a'
pkgconfigdir = $(libdir)/pkgconfig
pkgconfig_DATA = worker/libparamd-client.pc

bin_PROGRAMS += worker/paramd-worker
worker_paramd_worker_SOURCES = worker/main.c worker/worker.c worker/worker.h
worker_paramd_worker_SOURCES += worker/fetch.c worker/fetch.h
worker_paramd_worker_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/worker
worker_paramd_worker_CFLAGS = $(AM_CFLAGS) $(ZMQ_CFLAGS)
worker_paramd_worker_LDADD = worker/libpdclient.la common/libpdcommon.la -lpthread
