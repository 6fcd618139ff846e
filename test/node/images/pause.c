/* The pod sandbox's pause process: holds the pod's namespaces and exits on SIGTERM or SIGINT.
   Built static by test/node/build.ts, since no registry is reachable for registry.k8s.io/pause. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) {
  (void)sig;
  _exit(0);
}

/* As PID 1 of the pod's PID namespace it reaps the orphans it inherits. */
static void reap(int sig) {
  (void)sig;
  while (waitpid(-1, 0, WNOHANG) > 0) {
  }
}

int main(void) {
  signal(SIGTERM, stop);
  signal(SIGINT, stop);
  signal(SIGCHLD, reap);
  for (;;) pause();
}
