// SetCurrentThreadName: names the calling thread for `top -H`, `ps -L`,
// /proc/<pid>/task/*/comm, gdb and profilers (docs/operations.md, "Threads").
//
// Thread-safe; best effort (a name the OS refuses leaves the old one).
#ifndef QLINEAR_COMMON_THREAD_NAME_H_
#define QLINEAR_COMMON_THREAD_NAME_H_

#include <pthread.h>

namespace qlinear {

// `name`: at most 15 characters (Linux's limit); longer names are cut.
inline void SetCurrentThreadName(const char* name) {
  char cut[16] = {};
  for (int i = 0; i < 15 && name[i] != '\0'; ++i) cut[i] = name[i];
  pthread_setname_np(pthread_self(), cut);
}

}  // namespace qlinear

#endif  // QLINEAR_COMMON_THREAD_NAME_H_
