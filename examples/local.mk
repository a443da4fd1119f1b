# examples/
# paramd-datagen: seedable synthetic LIBSVM data sets (logistic, lasso, least squares)
noinst_PROGRAMS += examples/paramd-datagen
examples_paramd_datagen_SOURCES = examples/datagen.c
examples_paramd_datagen_LDADD = common/libpdcommon.la
# kv-client: user training code against the public key-value API only (libparamd-client and
# <paramd/client.h>, as an installed program would see them); server side in examples/kv.conf
noinst_PROGRAMS += examples/kv-client
examples_kv_client_SOURCES = examples/kv_client.c
examples_kv_client_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/worker
examples_kv_client_LDADD = worker/libparamd-client.la -lm
# Job configurations a new user runs first, the scikit-learn export behind the committed
# breast-cancer set, and the set itself: installed together under $(docdir)/examples, where
# the configurations' relative data paths still hold.
examplesdir = $(docdir)/examples
dist_examples_DATA = examples/kv.conf examples/fashion-mnist.conf \
	examples/breast-cancer-l1.conf examples/lasso.conf examples/export_sklearn.py \
	examples/mlp-fashion-mnist.conf examples/apts-fashion-mnist.conf examples/fosi-fashion-mnist.conf \
	examples/dho2-fashion-mnist.conf examples/breast-cancer-newton-cg.conf \
	examples/sim-quadratic.conf examples/kv_client.c examples/torch-kv.conf examples/torch_kv.py
examplesdatadir = $(docdir)/examples/data
dist_examplesdata_DATA = examples/data/breast-cancer.train.svm examples/data/breast-cancer.test.svm
