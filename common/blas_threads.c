/* blas_threads.c - see blas_threads.h. */
#include <config.h>
#include "blas_threads.h"

#include <cblas.h>
#include <stdlib.h>

void pd_blas_threads_default(void)
{
    if (getenv("OPENBLAS_NUM_THREADS") == NULL && getenv("OMP_NUM_THREADS") == NULL) {
        openblas_set_num_threads(1);
    }
}
