# examples/
# paramd-datagen: seedable synthetic LIBSVM data sets (logistic, lasso, least squares)
noinst_PROGRAMS += examples/paramd-datagen
examples_paramd_datagen_SOURCES = examples/datagen.c
examples_paramd_datagen_LDADD = common/libpdcommon.la
