/* The cost of the gradient sums alone: MPI_Iallreduce of the 784-1000-784 AE's two weight matrices (784000
 * floats each) and biases, tested to completion in a loop as the trainer does, with no computation beside
 * it. bench/mpi.sh runs it with the same mpirun flags as the training runs; what training waits beyond
 * this floor's share is communication that backward did not hide. Prints the median ms per step. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int by_value(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const int counts[4] = {784000, 784, 784000, 1000}; /* in the order backward finishes them */
  float* buffers[4];
  for (int k = 0; k < 4; ++k) {
    buffers[k] = malloc(sizeof(float) * (size_t)counts[k]);
    for (int i = 0; i < counts[k]; ++i) buffers[k][i] = 1e-3f * (float)(i % 97);
  }
  enum { steps = 60 };
  double times[steps];
  for (int s = 0; s < steps; ++s) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double start = MPI_Wtime();
    MPI_Request requests[4];
    for (int k = 0; k < 4; ++k)
      MPI_Iallreduce(MPI_IN_PLACE, buffers[k], counts[k], MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &requests[k]);
    int done = 0;
    while (!done) MPI_Testall(4, requests, &done, MPI_STATUSES_IGNORE);
    times[s] = MPI_Wtime() - start;
  }
  qsort(times, steps, sizeof times[0], by_value);
  if (rank == 0) printf("allreduce floor: %.3f ms per step (median of %d)\n", times[steps / 2] * 1e3, steps);
  for (int k = 0; k < 4; ++k) free(buffers[k]);
  MPI_Finalize();
  return 0;
}
