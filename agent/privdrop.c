/*
 * privdrop.c - setuid/setgid and capability clearing, Linux only (capset via syscall(2),
 * so libcap is not needed). The agent calls it after the capture handle is open and its key
 * files are read: what it does after that needs no privilege at all.
 */
#include "privdrop.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int sm_privdrop(const char *user, char *err, size_t errlen)
{
    if (geteuid() == 0 || getuid() == 0) {
        errno = 0;
        struct passwd *pw = getpwnam(user);
        if (pw == NULL) {
            snprintf(err, errlen, "--user %s: no such user", user);
            return -1;
        }
        if (pw->pw_uid == 0) {
            snprintf(err, errlen, "--user %s: that is root; name an unprivileged user", user);
            return -1;
        }
        for (int cap = 0; cap <= 63; cap++)
            if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == -1 && errno != EINVAL)
                break;
        if (setgroups(0, NULL) == -1 || setgid(pw->pw_gid) == -1 ||
            setuid(pw->pw_uid) == -1) {
            snprintf(err, errlen, "cannot become %s: %s", user, strerror(errno));
            return -1;
        }
        if (setuid(0) != -1 || geteuid() == 0) {
            snprintf(err, errlen, "could become root again after dropping to %s", user);
            return -1;
        }
    }
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &hdr, data) == -1) {
        snprintf(err, errlen, "cannot clear capabilities: %s", strerror(errno));
        return -1;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
        snprintf(err, errlen, "cannot set no_new_privs: %s", strerror(errno));
        return -1;
    }
    return 0;
}
