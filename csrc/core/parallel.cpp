#include "core/parallel.h"

#include <stdexcept>
#include <string>

namespace pb {

int max_threads() { return omp_get_max_threads(); }

void set_num_threads(int n) {
  if (n < 1) throw std::invalid_argument("set_num_threads: n: expected a positive integer, got " + std::to_string(n));
  omp_set_num_threads(n);
}

}  // namespace pb
