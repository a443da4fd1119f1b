/* blas_threads.h - OpenBLAS's thread count for paramd's programs. */
#ifndef PD_COMMON_BLAS_THREADS_H
#define PD_COMMON_BLAS_THREADS_H

/* One OpenBLAS thread unless OPENBLAS_NUM_THREADS (or OMP_NUM_THREADS) says otherwise. The
 * daemon's loop and each worker thread call BLAS on vectors that one core streams at memory
 * speed; OpenBLAS's default, a thread per core, would split them and leave its threads
 * spinning in sched_yield between calls, on cores the workers and clients of the same host
 * need (a 1 MiB push cost the daemon 4x the CPU of a raw ZeroMQ echo). Call first in main. */
void pd_blas_threads_default(void);

#endif
