# server/: the daemon. libpdserver.la holds everything but main.c, so tests can link it.
noinst_LTLIBRARIES += server/libpdserver.la
server_libpdserver_la_SOURCES = \
	server/daemon.c server/daemon.h \
	server/job.c \
	server/dispatch.c \
	server/scheduler.c server/scheduler.h \
	server/eval.c \
	server/kv.c server/kv.h \
	server/session.c server/session.h \
	server/store.c server/store.h \
	server/shards.c server/shards.h server/shard.c server/shard_estimate.c server/shard_parts.c \
	server/optim.c server/optim.h \
	server/lazy.c server/lazy.h \
	server/methods/method.c server/methods/method.h \
	server/methods/method_sync.c server/methods/method_async.c server/methods/method_ssp.c \
	server/methods/method_rennala.c \
	server/methods/method_freya.c server/methods/freya_core.c server/methods/freya_core.h \
	server/methods/method_apts.c server/methods/apts_core.c server/methods/apts_core.h \
	server/methods/fosi_core.c server/methods/fosi_core.h server/methods/method_fosi.c \
	server/methods/parts.c server/methods/parts.h \
	server/methods/whole.c server/methods/whole.h \
	server/methods/solver.h server/methods/method_solver.c \
	server/methods/method_syncpage.c \
	server/methods/tron_core.c server/methods/tron_core.h \
	server/methods/lbfgs_core.c server/methods/lbfgs_core.h \
	server/metrics.c server/metrics.h \
	server/history.c server/history.h \
	server/progress.c server/progress.h \
	server/ops/local_workers.c server/ops/local_workers.h \
	server/ops/notify.c server/ops/notify.h server/ops/reload.c server/ops/reload.h \
	server/ops/checkpoint.c server/ops/checkpoint.h \
	server/sim.c server/sim.h \
	server/serve.c server/serve.h \
	server/ops/http.c server/ops/http.h \
	server/ops/status_render.c server/ops/status_render.h \
	server/ops/status_http.c server/ops/status_http.h \
	server/ops/chart_lib.c server/ops/chart_lib.h \
	server/ops/zap.c server/ops/zap.h \
	server/ops/conn_monitor.c server/ops/conn_monitor.h
# The dashboard page (GET /) is built into the daemon as a C string.
nodist_server_libpdserver_la_SOURCES = server/ops/dashboard_html.c
BUILT_SOURCES += server/ops/dashboard_html.c
CLEANFILES += server/ops/dashboard_html.c
EXTRA_DIST += server/ops/dashboard.html server/ops/html_to_c.sh
server/ops/dashboard_html.c: $(srcdir)/server/ops/dashboard.html $(srcdir)/server/ops/html_to_c.sh
	$(AM_V_GEN)$(MKDIR_P) server/ops && \
	$(SHELL) $(srcdir)/server/ops/html_to_c.sh $(srcdir)/server/ops/dashboard.html >$@.tmp && \
	mv $@.tmp $@
server_libpdserver_la_CPPFLAGS = $(AM_CPPFLAGS) -DPD_BINDIR='"$(bindir)"'
server_libpdserver_la_CFLAGS = $(AM_CFLAGS) $(UV_CFLAGS) $(ZMQ_CFLAGS) $(JANSSON_CFLAGS) $(OPENBLAS_CFLAGS) \
	$(SYSTEMD_CFLAGS)
server_libpdserver_la_LIBADD = common/libpdcommon.la $(UV_LIBS) $(ZMQ_LIBS) $(JANSSON_LIBS) \
	$(SYSTEMD_LIBS) $(HTTP_PARSER_LIBS)

# a daemon, documented in section 8: /usr/sbin, as Debian's policy has it
sbin_PROGRAMS += server/paramd
server_paramd_SOURCES = server/main.c
server_paramd_CFLAGS = $(AM_CFLAGS) $(UV_CFLAGS) $(ZMQ_CFLAGS)
server_paramd_LDADD = server/libpdserver.la

# paramd-sim: the same daemon on a simulated clock with in-process workers (sim.h).
bin_PROGRAMS += server/paramd-sim
server_paramd_sim_SOURCES = server/sim_main.c
server_paramd_sim_CFLAGS = $(AM_CFLAGS) $(UV_CFLAGS) $(ZMQ_CFLAGS)
server_paramd_sim_LDADD = server/libpdserver.la

# paramctl: the status socket's command-line client (HTTP over the unix socket).
bin_PROGRAMS += server/paramctl
server_paramctl_SOURCES = server/paramctl.c
server_paramctl_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(ZMQ_CFLAGS)
server_paramctl_LDADD = $(JANSSON_LIBS) $(ZMQ_LIBS)
