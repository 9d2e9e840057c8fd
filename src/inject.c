/*
 * refscope's own ptrace injector: runs one Python statement in the main
 * thread of a CPython process, without gdb, and leaves the process exactly
 * as it was.  The `refscope` command uses it to run
 * `import refscope; refscope.install()` in a program that never did.
 *
 * The steps (each named in rs_inject_steps, so that tests can make any of
 * them fail, or kill this process there):
 *
 *   check    /proc/PID/status: not a zombie, not stopped, not traced; the
 *            symbols of the Python C API and of libc from the ELF symbol
 *            tables (.dynsym, .symtab) of the executable, libpython and libc
 *            mapped in /proc/PID/maps; the interpreter's version (Py_Version)
 *   seize    PTRACE_SEIZE the main thread (never PTRACE_O_EXITKILL)
 *   stop     PTRACE_INTERRUPT it and wait for the stop, passing on any
 *            signal that arrives first
 *   save     every register set it will disturb, with the sizes the kernel
 *            reports (NT_PRSTATUS; NT_X86_XSTATE, else NT_PRFPREG); the
 *            thread must be on the process's stack (not a signal stack)
 *   map      call libc's mmap() in it for one page
 *   write    the trampoline below, the registers to come back to, the code
 *   protect  mprotect() the page to read+execute
 *   probe    PyGILState_Check() through the trampoline: does the main
 *            thread hold the GIL right now?
 *   call     the work itself, one of two ways (see "Where Python runs")
 *   restore  every register set as it was, and the interrupted system
 *            call as the kernel would have resumed it
 *   detach   PTRACE_DETACH
 *
 * Calls the way a debugger makes them: registers set for the System V
 * ABI, a 16-byte aligned stack below the red zone, orig_rax = -1 so that
 * the kernel does not rewind rip into an interrupted system call.  mmap()
 * and mprotect() return to address 0; the SIGSEGV stop that follows is
 * recognised (rip == 0) and, before anything else, turned back into a
 * plain ptrace stop with the saved registers (a pending PTRACE_INTERRUPT),
 * so that at every step boundary the target is in a state it survives on
 * its own.
 *
 * The trampoline: everything after the page exists runs through a few
 * instructions in that page (rs_trampoline below).  They make the calls,
 * then execute getpid() as a marker where this process stops them
 * (PTRACE_SYSCALL), and after the marker they put every general register,
 * the flags, the stack pointer and rip back by themselves.  So if this
 * process dies (SIGKILL; it blocks the other signals) or gives up waiting
 * while the target runs injected code, the target finishes the call and
 * returns to where it was on its own, the interrupted system call
 * restarted.  Only the vector registers are then not restored, which the
 * code at a system call does not keep live, and which the calls made
 * anywhere else (PyGILState_Check, Py_AddPendingCall) are not expected to
 * touch.  Normally this process
 * restores everything exactly at the marker.  The one window where the
 * death of this process would hurt the target is while the target runs
 * mmap() or mprotect(), a few microseconds.
 *
 * Interrupted system calls.  A thread stopped inside a blocking system
 * call has orig_rax = the call and rax = -ERESTARTSYS, -ERESTARTNOINTR or
 * -ERESTARTNOHAND (the kernel restarts the call on resume) or
 * -ERESTART_RESTARTBLOCK (it resumes through the thread's restart_block:
 * clock_nanosleep, futex and poll with a timeout).  The first three are
 * restarted as the kernel would (rip back onto the syscall instruction,
 * rax = the call).  The last is made to return -EINTR: the injected
 * code's own system calls may replace restart_block, and Python retries
 * sleep, select, poll, accept and lock waits on EINTR with the time left
 * (PEP 475), so the blocked call still ends when it should.
 *
 * Where Python runs.  The main thread may be stopped anywhere: inside
 * malloc, half-way through a dict update, holding the GIL.  Running
 * Python there could deadlock or corrupt it.  So:
 *  - When it is blocked in one of the waiting system calls listed in
 *    blocking_calls (sleep, select, poll, accept, read, a lock's futex...)
 *    and does not hold the GIL (PyGILState_Check() == 0), nor waits for
 *    it (a futex in the interpreter's own memory: take_gil), it is between
 *    Py_BEGIN_ALLOW_THREADS and Py_END_ALLOW_THREADS, the same safe point
 *    where Python's own signal handlers run.  There the trampoline calls
 *    PyGILState_Ensure(), checks PyGILState_Check() == 1 (no Python runs
 *    without the GIL), PyRun_SimpleString(code), PyGILState_Release().
 *    Waiting for the GIL is bounded by CALL_TIMEOUT_MS: after that this
 *    process detaches and the trampoline finishes when the GIL comes.
 *  - Anywhere else it only calls Py_AddPendingCall(PyRun_SimpleString,
 *    code), which CPython documents as callable without the GIL from any
 *    thread; the main thread runs the code at its next bytecode boundary.
 *    The code then stays in the page, which is why the page stays mapped.
 */
#include "inject.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *const rs_inject_steps[] = {"check", "seize", "stop", "save", "map", "write", "protect",
                                       "probe", "call", "restore", "detach", NULL};

#if defined(__x86_64__)

/* Kernel-internal errors a thread stopped in a system call shows in rax. */
enum { ERESTARTSYS = 512, ERESTARTNOINTR = 513, ERESTARTNOHAND = 514, ERESTART_RESTARTBLOCK = 516 };

/* How long the target may take to stop, to run a short call (mmap,
 * PyGILState_Check, Py_AddPendingCall), and to get the GIL and run the
 * code. */
#define STOP_TIMEOUT_MS 5000
#define SHORT_TIMEOUT_MS 5000
#define CALL_TIMEOUT_MS 10000
/* Where the code goes in the page; the trampoline comes first. */
#define PAGE_SIZE_USED 4096
#define CODE_OFFSET 1024

/* --- The trampoline ----------------------------------------------------------- */

/* Two entry points.  rs_trampoline: one call, function in rax, arguments
 * in rdi/rsi (rbx = its result at the marker).  rs_trampoline_direct: r12
 * PyGILState_Ensure, r13 PyGILState_Check, r14 PyRun_SimpleString, r15
 * PyGILState_Release, rbp the code (at the marker: ebx = the GIL state,
 * r12d = PyGILState_Check() after Ensure, r13 = PyRun_SimpleString's
 * result, -1 when not run).  Both start with rsp 16-byte aligned.  After
 * the marker (getpid) the registers come back from rs_trampoline_saved,
 * in struct order below, and rip from its slot. */
__asm__(".pushsection .rodata\n"
        ".balign 16\n"
        ".globl rs_trampoline\n"
        ".hidden rs_trampoline\n"
        "rs_trampoline:\n"
        "    call *%rax\n"
        "    mov %rax, %rbx\n"
        "    jmp .Lrs_marker\n"
        ".globl rs_trampoline_direct\n"
        ".hidden rs_trampoline_direct\n"
        "rs_trampoline_direct:\n"
        "    call *%r12\n"
        "    mov %eax, %ebx\n"
        "    call *%r13\n"
        "    mov %eax, %r12d\n"
        "    mov $-1, %r13\n"
        "    cmp $1, %r12d\n"
        "    jne 1f\n"
        "    mov %rbp, %rdi\n"
        "    call *%r14\n"
        "    movslq %eax, %r13\n"
        "1:  mov %ebx, %edi\n"
        "    call *%r15\n"
        ".Lrs_marker:\n"
        "    mov $39, %eax\n"
        ".globl rs_trampoline_marker\n"
        ".hidden rs_trampoline_marker\n"
        "rs_trampoline_marker:\n"
        "    syscall\n"
        "    mov .Lrs_saved+136(%rip), %rax\n"
        "    push %rax\n"
        "    popfq\n"
        "    mov .Lrs_saved+120(%rip), %rsp\n"
        "    mov .Lrs_saved+8(%rip), %rbx\n"
        "    mov .Lrs_saved+16(%rip), %rcx\n"
        "    mov .Lrs_saved+24(%rip), %rdx\n"
        "    mov .Lrs_saved+32(%rip), %rsi\n"
        "    mov .Lrs_saved+40(%rip), %rdi\n"
        "    mov .Lrs_saved+48(%rip), %rbp\n"
        "    mov .Lrs_saved+56(%rip), %r8\n"
        "    mov .Lrs_saved+64(%rip), %r9\n"
        "    mov .Lrs_saved+72(%rip), %r10\n"
        "    mov .Lrs_saved+80(%rip), %r11\n"
        "    mov .Lrs_saved+88(%rip), %r12\n"
        "    mov .Lrs_saved+96(%rip), %r13\n"
        "    mov .Lrs_saved+104(%rip), %r14\n"
        "    mov .Lrs_saved+112(%rip), %r15\n"
        "    mov .Lrs_saved+0(%rip), %rax\n"
        "    jmp *.Lrs_saved+128(%rip)\n"
        ".balign 8\n"
        ".globl rs_trampoline_saved\n"
        ".hidden rs_trampoline_saved\n"
        "rs_trampoline_saved:\n"
        ".Lrs_saved:\n"
        "    .skip 144\n"
        ".globl rs_trampoline_end\n"
        ".hidden rs_trampoline_end\n"
        "rs_trampoline_end:\n"
        ".popsection\n");

extern const unsigned char rs_trampoline[], rs_trampoline_direct[], rs_trampoline_marker[], rs_trampoline_saved[],
    rs_trampoline_end[];

/* The layout of rs_trampoline_saved. */
typedef struct saved_block {
    uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15, rsp, rip, rflags;
} saved_block;

_Static_assert(sizeof(saved_block) == 144, "rs_trampoline_saved holds 18 registers");

/* --- State of one injection -------------------------------------------------- */

/* What the target is stopped in: where its registers may be set, and how
 * the kernel treats them when it goes on. */
typedef enum {
    STOP_NONE,    /* running (or not stopped by us) */
    STOP_SIGNAL,  /* a stop inside signal handling: interrupt, group stop, signal delivery */
    STOP_SYSCALL, /* a syscall-enter or -exit stop */
} stop_kind;

typedef struct symbols {
    uint64_t ensure, release, check, run, pending, version, mmap, mprotect;
} symbols;

typedef struct injection {
    pid_t pid;
    char *err;
    size_t err_len;
    const char *fail_at, *kill_at;
    int mem_fd;
    bool seized;
    bool saved; /* regs and fp hold the state as found */
    stop_kind stop;
    int stop_signal; /* the signal of a signal-delivery stop, to pass on */
    struct user_regs_struct regs; /* as found */
    struct iovec fp;              /* the extended state as found */
    int fp_type;                  /* NT_X86_XSTATE or NT_PRFPREG, 0 = none saved */
    bool code_ran;                /* the target ran something of ours */
    bool in_flight;               /* the trampoline is running a call that must finish */
    uint64_t page, scratch_sp;
    uint64_t python_lo, python_hi; /* the Python file's mappings and its .bss */
    symbols sym;
    char python_version[16];
} injection;

static int failf(injection *in, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* Writes the one sentence for the user into in->err; returns -1. */
static int failf(injection *in, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    vsnprintf(in->err, in->err_len, format, ap);
    va_end(ap);
    return -1;
}

/* The test hooks: -1 (with a sentence) when this step is to fail. */
static int step(injection *in, const char *name)
{
    if (in->kill_at != NULL && strcmp(in->kill_at, name) == 0)
        raise(SIGKILL);
    if (in->fail_at != NULL && strcmp(in->fail_at, name) == 0)
        return failf(in, "the injector failed at step '%s' on purpose (REFSCOPE_INJECT_FAIL_AT)", name);
    return 0;
}

static long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* --- /proc ---------------------------------------------------------------------- */

/* The value of "Name:" in /proc/PID/status into buf; false when absent. */
static bool status_field(pid_t pid, const char *name, char *buf, size_t len)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    bool found = false;
    size_t name_len = strlen(name);
    while (!found && fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, name, name_len) == 0 && line[name_len] == ':') {
            char *value = line + name_len + 1;
            value += strspn(value, " \t");
            value[strcspn(value, "\n")] = '\0';
            snprintf(buf, len, "%s", value);
            found = true;
        }
    }
    fclose(f);
    return found;
}

static void process_name(pid_t pid, char *buf, size_t len)
{
    if (!status_field(pid, "Name", buf, len))
        snprintf(buf, len, "?");
}

/* Refuses a process that is gone, a zombie, stopped or traced. */
static int check_process(injection *in)
{
    char state[64], tracer[32], name[64];
    if (!status_field(in->pid, "State", state, sizeof state))
        return failf(in, "no process with PID %ld is running", (long)in->pid);
    if (state[0] == 'Z' || state[0] == 'X')
        return failf(in, "PID %ld has exited (it is a zombie waiting for its parent)", (long)in->pid);
    if (state[0] == 'T' || state[0] == 't')
        return failf(in, "PID %ld is stopped; resume it (kill -CONT %ld) and try again", (long)in->pid,
                     (long)in->pid);
    if (status_field(in->pid, "TracerPid", tracer, sizeof tracer) && atol(tracer) != 0) {
        process_name((pid_t)atol(tracer), name, sizeof name);
        return failf(in, "PID %ld is already being traced by PID %ld (%s), a debugger or tracer; detach it "
                     "and try again", (long)in->pid, atol(tracer), name);
    }
    return 0;
}

/* --- ELF symbol tables of the mapped files --------------------------------------- */

typedef struct mapped_file {
    char path[PATH_MAX];
    uint64_t start, end; /* the mapping at file offset 0 */
    unsigned long inode;
    bool deleted;
} mapped_file;

/* Finds, in /proc/PID/maps, the first mapping at offset 0 of a file
 * whose base name starts with one of prefixes, or of the executable
 * (prefix NULL: same inode as /proc/PID/exe).  false when none. */
static bool find_mapped(pid_t pid, const char *const *prefixes, mapped_file *out)
{
    char path[64], line[PATH_MAX + 256];
    struct stat exe;
    snprintf(path, sizeof path, "/proc/%ld/exe", (long)pid);
    bool have_exe = prefixes == NULL && stat(path, &exe) == 0;
    snprintf(path, sizeof path, "/proc/%ld/maps", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    bool found = false;
    while (!found && fgets(line, sizeof line, f) != NULL) {
        unsigned long long start, end, offset;
        unsigned long inode;
        int name_at = 0;
        if (sscanf(line, "%llx-%llx %*s %llx %*s %lu %n", &start, &end, &offset, &inode, &name_at) < 4 ||
            offset != 0 || inode == 0 || name_at == 0 || line[name_at] != '/')
            continue;
        char *file = line + name_at;
        file[strcspn(file, "\n")] = '\0';
        const char *base = strrchr(file, '/') + 1;
        bool match = false;
        if (prefixes == NULL)
            match = have_exe && inode == exe.st_ino;
        for (int i = 0; prefixes != NULL && prefixes[i] != NULL && !match; i++)
            match = strncmp(base, prefixes[i], strlen(prefixes[i])) == 0;
        if (!match)
            continue;
        size_t len = strlen(file);
        out->deleted = len > 10 && strcmp(file + len - 10, " (deleted)") == 0;
        if (out->deleted)
            file[len - 10] = '\0';
        snprintf(out->path, sizeof out->path, "%s", file);
        out->start = start;
        out->end = end;
        out->inode = inode;
        found = true;
    }
    fclose(f);
    return found;
}

/* The addresses of every mapping of the file with this inode, and of the
 * anonymous mapping right after them (its .bss), into *lo and *hi. */
static void file_range(pid_t pid, unsigned long file_inode, uint64_t *lo, uint64_t *hi)
{
    char path[64], line[PATH_MAX + 256];
    snprintf(path, sizeof path, "/proc/%ld/maps", (long)pid);
    FILE *f = fopen(path, "r");
    *lo = *hi = 0;
    if (f == NULL)
        return;
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long long start, end;
        unsigned long inode;
        int name_at = 0;
        if (sscanf(line, "%llx-%llx %*s %*s %*s %lu %n", &start, &end, &inode, &name_at) < 3)
            continue;
        bool anonymous = inode == 0 && (name_at == 0 || line[name_at] == '\0' || line[name_at] == '\n');
        if (inode == file_inode) {
            *lo = *lo == 0 ? start : *lo;
            *hi = end;
        } else if (anonymous && *hi != 0 && start == *hi) {
            *hi = end;
        }
    }
    fclose(f);
}

/* Opens the file behind a mapping: its path (when it is still the same
 * file), the same path inside the process's root, or map_files. */
static int open_mapped(pid_t pid, const mapped_file *m)
{
    char path[PATH_MAX + 64];
    struct stat st;
    for (int i = 0; i < 3; i++) {
        if (i == 0)
            snprintf(path, sizeof path, "%s", m->path);
        else if (i == 1)
            snprintf(path, sizeof path, "/proc/%ld/root%s", (long)pid, m->path);
        else
            snprintf(path, sizeof path, "/proc/%ld/map_files/%llx-%llx", (long)pid, (unsigned long long)m->start,
                     (unsigned long long)m->end);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        if (fstat(fd, &st) == 0 && st.st_ino == m->inode)
            return fd;
        close(fd);
    }
    return -1;
}

typedef struct wanted {
    const char *name;
    uint64_t *address;
} wanted;

/* Looks the names up in the .dynsym and .symtab of the ELF file mapped
 * at m, storing load bias + st_value for each defined one.  Returns -1
 * when the file cannot be read or is no x86_64 ELF file. */
static int elf_lookup(pid_t pid, const mapped_file *m, wanted *names, size_t count)
{
    int fd = open_mapped(pid, m);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) < 0 || (size_t)st.st_size < sizeof(Elf64_Ehdr)) {
        close(fd);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    const unsigned char *file = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (file == MAP_FAILED)
        return -1;
    int rc = -1;
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)file;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_machine != EM_X86_64 || eh->e_phentsize != sizeof(Elf64_Phdr) ||
        eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_phoff > size ||
        (size - eh->e_phoff) / sizeof(Elf64_Phdr) < eh->e_phnum || eh->e_shoff > size ||
        (size - eh->e_shoff) / sizeof(Elf64_Shdr) < eh->e_shnum)
        goto done;
    /* The mapping at offset 0 holds the PT_LOAD segment at file offset 0. */
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(file + eh->e_phoff);
    bool have_load = false;
    uint64_t bias = 0;
    for (int i = 0; i < eh->e_phnum && !have_load; i++)
        if (ph[i].p_type == PT_LOAD && ph[i].p_offset == 0) {
            bias = m->start - (ph[i].p_vaddr & ~(uint64_t)(sysconf(_SC_PAGESIZE) - 1));
            have_load = true;
        }
    if (!have_load)
        goto done;
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(file + eh->e_shoff);
    for (int i = 0; i < eh->e_shnum; i++) {
        if ((sh[i].sh_type != SHT_DYNSYM && sh[i].sh_type != SHT_SYMTAB) || sh[i].sh_link >= eh->e_shnum ||
            sh[i].sh_entsize != sizeof(Elf64_Sym))
            continue;
        const Elf64_Shdr *strtab = &sh[sh[i].sh_link];
        if (sh[i].sh_offset > size || sh[i].sh_size > size - sh[i].sh_offset || strtab->sh_offset > size ||
            strtab->sh_size > size - strtab->sh_offset)
            continue;
        const Elf64_Sym *sym = (const Elf64_Sym *)(file + sh[i].sh_offset);
        const char *names_base = (const char *)file + strtab->sh_offset;
        size_t n = sh[i].sh_size / sizeof(Elf64_Sym);
        for (size_t k = 0; k < n; k++) {
            int type = ELF64_ST_TYPE(sym[k].st_info);
            if (sym[k].st_shndx == SHN_UNDEF || sym[k].st_value == 0 || sym[k].st_name >= strtab->sh_size ||
                (type != STT_FUNC && type != STT_OBJECT))
                continue;
            const char *name = names_base + sym[k].st_name;
            size_t room = strtab->sh_size - sym[k].st_name;
            for (size_t w = 0; w < count; w++)
                if (*names[w].address == 0 && strnlen(name, room) < room && strcmp(name, names[w].name) == 0)
                    *names[w].address = bias + sym[k].st_value;
        }
    }
    rc = 0;
done:
    munmap((void *)file, size);
    return rc;
}

/* The major.minor of a Python file name ("libpython3.12.so.1.0",
 * "python3.12") into buf, or "".  */
static void version_from_name(const char *path, char *buf, size_t len)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    const char *v = strncmp(base, "libpython", 9) == 0 ? base + 9 : strncmp(base, "python", 6) == 0 ? base + 6 : "";
    size_t n = strspn(v, "0123456789.");
    while (n > 0 && v[n - 1] == '.')
        n--;
    snprintf(buf, len, "%.*s", (int)n, v);
}

/* Finds the C API in the target and checks the interpreter's version. */
static int find_symbols(injection *in, const char *python_version)
{
    static const char *const libpython[] = {"libpython3", NULL};
    static const char *const libc[] = {"libc.so", "libc-", NULL};
    symbols *s = &in->sym;
    wanted python_names[] = {{"PyGILState_Ensure", &s->ensure}, {"PyGILState_Release", &s->release},
                             {"PyGILState_Check", &s->check},   {"PyRun_SimpleString", &s->run},
                             {"Py_AddPendingCall", &s->pending}, {"Py_Version", &s->version}};
    size_t n_python = sizeof python_names / sizeof python_names[0];
    mapped_file m, where = {.path = ""};
    char name[64];
    process_name(in->pid, name, sizeof name);
    /* libpython first: an executable that links it only imports the API. */
    if (find_mapped(in->pid, libpython, &m) && elf_lookup(in->pid, &m, python_names, n_python) == 0 &&
        s->ensure != 0)
        where = m;
    if (s->ensure == 0 && find_mapped(in->pid, NULL, &m) && elf_lookup(in->pid, &m, python_names, n_python) == 0 &&
        s->ensure != 0)
        where = m;
    if (s->ensure == 0)
        return failf(in, "PID %ld (%s) is not a CPython program: neither its executable nor a libpython3 mapped in "
                     "it has the Python C API (PyGILState_Ensure), so refscope cannot start a listener in it",
                     (long)in->pid, name);
    file_range(in->pid, where.inode, &in->python_lo, &in->python_hi);
    if (where.deleted)
        return failf(in, "the Python of PID %ld (%s) was deleted or replaced on disk since the program started, so "
                     "refscope cannot read its symbols; restart the program, or have it call refscope.install()",
                     (long)in->pid, where.path);
    if (s->release == 0 || s->check == 0 || s->run == 0 || s->pending == 0)
        return failf(in, "the Python in PID %ld (%s) lacks part of the C API refscope calls (PyGILState_Release, "
                     "PyGILState_Check, PyRun_SimpleString, Py_AddPendingCall)", (long)in->pid, where.path);
    uint64_t hex = 0;
    if (s->version != 0 && pread(in->mem_fd, &hex, sizeof hex, (off_t)s->version) == (ssize_t)sizeof hex)
        snprintf(in->python_version, sizeof in->python_version, "%u.%u", (unsigned)(hex >> 24) & 0xff,
                 (unsigned)(hex >> 16) & 0xff);
    else if (s->version == 0)
        /* Py_Version exists since 3.11: older ones are named by their file. */
        version_from_name(where.path, in->python_version, sizeof in->python_version);
    if (in->python_version[0] == '\0')
        return failf(in, "cannot read which Python version PID %ld runs (%s)", (long)in->pid,
                     s->version != 0 ? strerror(errno) : where.path);
    if (strcmp(in->python_version, python_version) != 0)
        return failf(in, "PID %ld runs Python %s%s, but this refscope is built for Python %s: use a refscope built "
                     "for Python %s (make PYTHON=python%s), or start the program with that refscope's `refscope run`",
                     (long)in->pid, in->python_version, s->version == 0 ? " (or older)" : "", python_version,
                     in->python_version, in->python_version);
    wanted libc_names[] = {{"mmap", &s->mmap}, {"mprotect", &s->mprotect}};
    if (!find_mapped(in->pid, libc, &m) || elf_lookup(in->pid, &m, libc_names, 2) < 0 || s->mmap == 0 ||
        s->mprotect == 0)
        return failf(in, "cannot find glibc's mmap() and mprotect() in PID %ld, which refscope's injector needs; "
                     "have the program call refscope.install() instead", (long)in->pid);
    return 0;
}

/* --- ptrace ---------------------------------------------------------------------- */

/* Waits up to timeout_ms for the next stop of the target (SIGCHLD is
 * blocked by the caller; ptrace stops raise it).  Returns 0 with *status,
 * 1 on timeout, -1 when the target is gone. */
static int wait_stop(injection *in, long timeout_ms, int *status)
{
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    long end = now_ms() + timeout_ms;
    for (;;) {
        pid_t r = waitpid(in->pid, status, __WALL | WNOHANG);
        if (r == in->pid) {
            if (WIFEXITED(*status) || WIFSIGNALED(*status)) {
                in->seized = false;
                in->stop = STOP_NONE;
                return -1;
            }
            int sig = WSTOPSIG(*status);
            in->stop = sig == (SIGTRAP | 0x80) ? STOP_SYSCALL : STOP_SIGNAL;
            in->stop_signal = (*status >> 16) == 0 && sig != (SIGTRAP | 0x80) ? sig : 0;
            return 0;
        }
        if (r < 0 && errno != EINTR) {
            in->seized = false;
            return -1;
        }
        long left = end - now_ms();
        if (left <= 0)
            return 1;
        struct timespec t = {.tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000};
        sigtimedwait(&chld, NULL, &t);
    }
}

static bool is_fault(int sig)
{
    return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGTRAP || sig == SIGABRT ||
           sig == SIGSYS;
}

/* Resumes the target with request (PTRACE_CONT or PTRACE_SYSCALL),
 * passing on the signal of a signal-delivery stop. */
static int resume(injection *in, int request, int signal)
{
    if (ptrace(request, in->pid, NULL, (void *)(long)signal) < 0)
        return failf(in, "cannot resume PID %ld: %s", (long)in->pid, strerror(errno));
    in->stop = STOP_NONE;
    return 0;
}

static int get_regs(injection *in, struct user_regs_struct *regs)
{
    struct iovec iov = {.iov_base = regs, .iov_len = sizeof *regs};
    if (ptrace(PTRACE_GETREGSET, in->pid, (void *)NT_PRSTATUS, &iov) < 0)
        return failf(in, "cannot read the registers of PID %ld: %s", (long)in->pid, strerror(errno));
    return 0;
}

static int set_regs(injection *in, const struct user_regs_struct *regs)
{
    struct iovec iov = {.iov_base = (void *)regs, .iov_len = sizeof *regs};
    if (ptrace(PTRACE_SETREGSET, in->pid, (void *)NT_PRSTATUS, &iov) < 0)
        return failf(in, "cannot set the registers of PID %ld: %s", (long)in->pid, strerror(errno));
    return 0;
}

/* Saves the registers and the extended (x87/SSE/AVX/AMX...) state with the
 * size the kernel reports: a buffer that comes back full may be too small,
 * so it grows until one does not. */
static int save_state(injection *in)
{
    if (get_regs(in, &in->regs) < 0)
        return -1;
    static const int types[] = {NT_X86_XSTATE, NT_PRFPREG};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        for (size_t cap = 16384; cap <= (size_t)1 << 22; cap *= 2) {
            void *buf = calloc(1, cap);
            if (buf == NULL)
                return failf(in, "out of memory");
            struct iovec iov = {.iov_base = buf, .iov_len = cap};
            if (ptrace(PTRACE_GETREGSET, in->pid, (void *)(long)types[t], &iov) < 0) {
                free(buf);
                break;
            }
            if (iov.iov_len < cap) {
                in->fp = iov;
                in->fp_type = types[t];
                in->saved = true;
                return 0;
            }
            free(buf);
        }
    }
    return failf(in, "cannot read the floating-point and vector registers of PID %ld: %s", (long)in->pid,
                 strerror(errno));
}

static bool in_restartable_syscall(const struct user_regs_struct *r)
{
    long rax = (long)r->rax;
    return (long)r->orig_rax >= 0 &&
           (rax == -ERESTARTSYS || rax == -ERESTARTNOINTR || rax == -ERESTARTNOHAND || rax == -ERESTART_RESTARTBLOCK);
}

/* The registers to hand back.  In a signal stop the kernel still runs its
 * restart logic afterwards, so the saved ones go back as they are, but for
 * -ERESTART_RESTARTBLOCK once our code ran (see the top).  In a syscall
 * stop (and in the trampoline's own return) the restart is done here: rip
 * back onto the syscall instruction, rax = the call; orig_rax = -1 makes
 * the kernel skip the marker's getpid. */
static struct user_regs_struct final_regs(const injection *in, stop_kind stop)
{
    struct user_regs_struct r = in->regs;
    if (in_restartable_syscall(&r)) {
        if ((long)r.rax == -ERESTART_RESTARTBLOCK) {
            if (in->code_ran || stop == STOP_SYSCALL)
                r.rax = (unsigned long long)-EINTR;
        } else if (stop == STOP_SYSCALL) {
            r.rax = r.orig_rax;
            r.rip -= 2;
        }
    }
    if (stop == STOP_SYSCALL)
        r.orig_rax = (unsigned long long)-1;
    return r;
}

/* Interrupts a running target and waits for it to stop; signals that
 * arrive first are passed on.  Returns 0 stopped, -1 with a sentence. */
static int stop_target(injection *in, long timeout_ms)
{
    if (ptrace(PTRACE_INTERRUPT, in->pid, NULL, NULL) < 0)
        return failf(in, "cannot interrupt PID %ld: %s", (long)in->pid, strerror(errno));
    long end = now_ms() + timeout_ms;
    for (;;) {
        int status, r = wait_stop(in, end - now_ms(), &status);
        if (r < 0)
            return failf(in, "PID %ld exited while refscope was attached to it", (long)in->pid);
        if (r > 0)
            return failf(in, "PID %ld did not stop within %ld s (it may be in uninterruptible sleep, state D); "
                         "try again later", (long)in->pid, timeout_ms / 1000);
        if ((status >> 16) == PTRACE_EVENT_STOP && WSTOPSIG(status) == SIGTRAP)
            return 0;
        if ((status >> 16) == PTRACE_EVENT_STOP)
            return failf(in, "PID %ld is being stopped (job control, signal %d); resume it (kill -CONT %ld) and try "
                         "again", (long)in->pid, WSTOPSIG(status), (long)in->pid);
        /* A signal or a syscall stop before the interrupt: let it go on. */
        if (resume(in, PTRACE_CONT, in->stop_signal) < 0)
            return -1;
    }
}

/* A fault in the injected call: the signal is not delivered (it would
 * kill the program for refscope's sake); the thread goes back to where it
 * was, which is the better chance for the program. */
static int call_crashed(injection *in)
{
    int sig = in->stop_signal;
    in->stop_signal = 0;
    in->in_flight = false;
    return failf(in, "refscope's call crashed in PID %ld (signal %d, %s); refscope put its main thread back where it "
                 "was, but the program may be unstable now: restart it when you can, and report this to refscope",
                 (long)in->pid, sig, strsignal(sig));
}

/* Puts the target back as it was and detaches; best effort, for the
 * failure paths (the sentence already in err stays). */
static void restore_and_detach(injection *in)
{
    if (!in->seized)
        return;
    if (!in->saved) {
        /* Nothing of the target changed yet. */
        if (in->stop != STOP_NONE)
            ptrace(PTRACE_DETACH, in->pid, NULL, (void *)(long)in->stop_signal);
        in->seized = false;
        return;
    }
    if (in->stop == STOP_NONE && !in->in_flight) {
        char keep[1024];
        snprintf(keep, sizeof keep, "%s", in->err);
        int failed = stop_target(in, STOP_TIMEOUT_MS);
        snprintf(in->err, in->err_len, "%s", keep);
        if (failed < 0)
            return; /* our exit detaches, and the pending interrupt goes with it */
    } else if (in->in_flight) {
        /* The trampoline finishes and returns on its own. */
        if (in->stop == STOP_NONE) {
            ptrace(PTRACE_INTERRUPT, in->pid, NULL, NULL);
            int status;
            if (wait_stop(in, STOP_TIMEOUT_MS, &status) != 0)
                return;
        }
        ptrace(PTRACE_DETACH, in->pid, NULL, (void *)(long)in->stop_signal);
        in->seized = false;
        return;
    }
    struct user_regs_struct r = final_regs(in, in->stop);
    set_regs(in, &r);
    if (in->fp_type != 0)
        ptrace(PTRACE_SETREGSET, in->pid, (void *)(long)in->fp_type, &in->fp);
    ptrace(PTRACE_DETACH, in->pid, NULL, (void *)(long)in->stop_signal);
    in->seized = false;
}

/* Refuses a main thread that is not on the process's stack: inside a
 * signal handler on an alternate stack, or on a stack of a coroutine
 * library, where there may be no room for the Python the code runs. */
static int check_stack(injection *in)
{
    char path[64], line[PATH_MAX + 256];
    snprintf(path, sizeof path, "/proc/%ld/maps", (long)in->pid);
    FILE *f = fopen(path, "r");
    bool on_stack = false;
    while (f != NULL && !on_stack && fgets(line, sizeof line, f) != NULL) {
        unsigned long long start, end;
        on_stack = strstr(line, "[stack]") != NULL && sscanf(line, "%llx-%llx", &start, &end) == 2 &&
                   in->regs.rsp > start && in->regs.rsp <= end;
    }
    if (f != NULL)
        fclose(f);
    if (!on_stack)
        return failf(in, "the main thread of PID %ld is not on its stack right now (in a signal handler on an "
                     "alternate stack, or on a coroutine library's stack), where refscope's code may not fit; try "
                     "again in a moment", (long)in->pid);
    return 0;
}

/* A 16-byte aligned stack pointer below the red zone of the stopped thread. */
static uint64_t scratch_stack(const injection *in)
{
    return ((uint64_t)in->regs.rsp - 128 - 256) & ~(uint64_t)15;
}

/* Calls fn(args) in the target as a debugger does, returning to address
 * 0: the SIGSEGV stop that follows is ours when rip is 0.  The target is
 * then put back into a plain stop with its saved registers. */
static int call_returning_to_zero(injection *in, uint64_t fn, const uint64_t *args, int nargs, uint64_t *result)
{
    struct user_regs_struct r = in->regs;
    uint64_t zero = 0, sp = in->scratch_sp - 8;
    if (pwrite(in->mem_fd, &zero, sizeof zero, (off_t)sp) != (ssize_t)sizeof zero)
        return failf(in, "cannot write to the stack of PID %ld: %s", (long)in->pid, strerror(errno));
    unsigned long long *slots[] = {&r.rdi, &r.rsi, &r.rdx, &r.rcx, &r.r8, &r.r9};
    for (int i = 0; i < nargs; i++)
        *slots[i] = args[i];
    r.rip = fn;
    r.rsp = sp;
    r.rax = 0;
    r.orig_rax = (unsigned long long)-1;
    if (set_regs(in, &r) < 0)
        return -1;
    in->code_ran = true;
    if (resume(in, PTRACE_CONT, 0) < 0)
        return -1;
    long end = now_ms() + SHORT_TIMEOUT_MS;
    for (;;) {
        int status, w = wait_stop(in, end - now_ms(), &status);
        if (w < 0)
            return failf(in, "PID %ld died during refscope's call", (long)in->pid);
        if (w > 0)
            return failf(in, "a call refscope made in PID %ld did not return within %d s", (long)in->pid,
                         SHORT_TIMEOUT_MS / 1000);
        if (in->stop_signal == SIGSEGV) {
            struct user_regs_struct now;
            if (get_regs(in, &now) < 0)
                return -1;
            if (now.rip != 0)
                return call_crashed(in);
            *result = now.rax;
            /* Leave the signal stop for a plain one with the saved registers. */
            in->stop_signal = 0;
            struct user_regs_struct back = final_regs(in, STOP_SIGNAL);
            if (set_regs(in, &back) < 0 || ptrace(PTRACE_INTERRUPT, in->pid, NULL, NULL) < 0 ||
                resume(in, PTRACE_CONT, 0) < 0)
                return -1;
            continue;
        }
        if (in->stop_signal != 0 && is_fault(in->stop_signal))
            return call_crashed(in);
        if (in->stop_signal == 0 && (status >> 16) == PTRACE_EVENT_STOP && WSTOPSIG(status) == SIGTRAP) {
            struct user_regs_struct now;
            if (get_regs(in, &now) < 0)
                return -1;
            if (now.rip == in->regs.rip && now.rsp == in->regs.rsp)
                return 0; /* back in the plain stop */
        }
        if (resume(in, PTRACE_CONT, in->stop_signal) < 0)
            return -1;
    }
}

/* Starts the trampoline at entry with the registers in r (stack and
 * orig_rax set here) and runs it to the marker, passing on signals.
 * *at gets the registers there.  Returns 0, 1 on timeout (the trampoline
 * may still run: in_flight), -1 with a sentence. */
static int run_trampoline(injection *in, const unsigned char *entry, struct user_regs_struct *r, long timeout_ms,
                          struct user_regs_struct *at)
{
    r->rip = in->page + (uint64_t)(entry - rs_trampoline);
    r->rsp = in->scratch_sp;
    r->orig_rax = (unsigned long long)-1;
    uint64_t marker = in->page + (uint64_t)(rs_trampoline_marker - rs_trampoline) + 2;
    if (set_regs(in, r) < 0)
        return -1;
    in->code_ran = true;
    in->in_flight = true;
    if (resume(in, PTRACE_SYSCALL, 0) < 0)
        return -1;
    long end = now_ms() + timeout_ms;
    for (;;) {
        int status, w = wait_stop(in, end - now_ms(), &status);
        if (w < 0)
            return failf(in, "PID %ld died while running refscope's call", (long)in->pid);
        if (w > 0)
            return 1;
        if (in->stop == STOP_SYSCALL) {
            if (get_regs(in, at) < 0)
                return -1;
            if (at->rip == marker && at->orig_rax == SYS_getpid) {
                in->in_flight = false;
                return 0;
            }
        } else if (in->stop_signal != 0 && is_fault(in->stop_signal)) {
            return call_crashed(in);
        }
        if (resume(in, PTRACE_SYSCALL, in->stop_signal) < 0)
            return -1;
    }
}

/* --- Where the main thread is ----------------------------------------------------- */

/* The waiting system calls where the thread sits between
 * Py_BEGIN_ALLOW_THREADS and Py_END_ALLOW_THREADS: Python can run there. */
static const struct {
    long nr;
    const char *name;
} blocking_calls[] = {
    {SYS_read, "read"},           {SYS_write, "write"},         {SYS_poll, "poll"},
    {SYS_select, "select"},       {SYS_pselect6, "pselect6"},   {SYS_ppoll, "ppoll"},
    {SYS_nanosleep, "nanosleep"}, {SYS_clock_nanosleep, "clock_nanosleep"},
    {SYS_accept, "accept"},       {SYS_accept4, "accept4"},     {SYS_connect, "connect"},
    {SYS_recvfrom, "recvfrom"},   {SYS_recvmsg, "recvmsg"},     {SYS_sendto, "sendto"},
    {SYS_sendmsg, "sendmsg"},     {SYS_wait4, "wait4"},         {SYS_waitid, "waitid"},
    {SYS_futex, "futex"},         {SYS_epoll_wait, "epoll_wait"}, {SYS_epoll_pwait, "epoll_pwait"},
    {SYS_pause, "pause"},         {SYS_rt_sigtimedwait, "rt_sigtimedwait"}, {SYS_flock, "flock"},
};

static const char *blocking_call_name(const struct user_regs_struct *r)
{
    if (!in_restartable_syscall(r) && !((long)r->orig_rax >= 0 && (long)r->rax == -EINTR))
        return NULL;
    for (size_t i = 0; i < sizeof blocking_calls / sizeof blocking_calls[0]; i++)
        if ((long)r->orig_rax == blocking_calls[i].nr)
            return blocking_calls[i].name;
    return NULL;
}

/* --- The injection ------------------------------------------------------------------ */

/* The sentence for a kernel that refuses ptrace (Yama, a container without
 * CAP_SYS_PTRACE, a setuid program). */
static int ptrace_denied(injection *in, int error)
{
    char scope[8] = "";
    FILE *yama = fopen("/proc/sys/kernel/yama/ptrace_scope", "r");
    if (yama != NULL) {
        if (fgets(scope, sizeof scope, yama) != NULL)
            scope[strcspn(scope, "\n")] = '\0';
        fclose(yama);
    }
    return failf(in, "the system does not let refscope trace PID %ld (ptrace: %s%s%s), so it cannot start a "
                 "listener in it: run refscope as root, or allow tracing (sudo sysctl kernel.yama.ptrace_scope=0; in "
                 "a container start it with --cap-add=SYS_PTRACE), or have the program call refscope.install()",
                 (long)in->pid, strerror(error), scope[0] ? "; kernel.yama.ptrace_scope is " : "", scope);
}

/* Maps the page, writes the trampoline with the registers to return to
 * and the code, and makes it executable. */
static int prepare_page(injection *in, const char *code)
{
    size_t code_len = strlen(code) + 1;
    if (code_len > PAGE_SIZE_USED - CODE_OFFSET)
        return failf(in, "the code to inject is too long (%zu bytes)", code_len);
    if (step(in, "map") < 0)
        return -1;
    uint64_t args[6] = {0, PAGE_SIZE_USED, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                        (uint64_t)-1, 0};
    uint64_t page = 0;
    if (call_returning_to_zero(in, in->sym.mmap, args, 6, &page) < 0)
        return -1;
    if (page == (uint64_t)-1 || page == 0)
        return failf(in, "mmap() failed in PID %ld (out of memory, or a seccomp filter)", (long)in->pid);
    in->page = page;
    if (step(in, "write") < 0)
        return -1;
    unsigned char buf[PAGE_SIZE_USED] = {0};
    size_t tramp_len = (size_t)(rs_trampoline_end - rs_trampoline);
    _Static_assert(CODE_OFFSET >= 512, "room for the trampoline");
    if (tramp_len > CODE_OFFSET)
        return failf(in, "internal error: the trampoline is %zu bytes", tramp_len);
    memcpy(buf, rs_trampoline, tramp_len);
    struct user_regs_struct back = final_regs(in, STOP_SYSCALL);
    saved_block saved = {back.rax, back.rbx, back.rcx, back.rdx, back.rsi, back.rdi, back.rbp, back.r8, back.r9,
                         back.r10, back.r11, back.r12, back.r13, back.r14, back.r15, back.rsp, back.rip,
                         back.eflags};
    memcpy(buf + (rs_trampoline_saved - rs_trampoline), &saved, sizeof saved);
    memcpy(buf + CODE_OFFSET, code, code_len);
    if (pwrite(in->mem_fd, buf, sizeof buf, (off_t)page) != (ssize_t)sizeof buf)
        return failf(in, "cannot write to the memory of PID %ld: %s", (long)in->pid, strerror(errno));
    if (step(in, "protect") < 0)
        return -1;
    uint64_t prot_args[3] = {page, PAGE_SIZE_USED, PROT_READ | PROT_EXEC}, result = 0;
    if (call_returning_to_zero(in, in->sym.mprotect, prot_args, 3, &result) < 0)
        return -1;
    if (result != 0)
        return failf(in, "mprotect() failed in PID %ld (a security policy forbids new code?)", (long)in->pid);
    return 0;
}

/* Runs the code as "Where Python runs" at the top says. */
static int call_python(injection *in, rs_inject_outcome *outcome)
{
    const char *blocked = blocking_call_name(&in->regs);
    /* A futex in the interpreter's own memory is the GIL (or another lock
     * of the runtime): the thread waits to get back into Python, inside
     * take_gil.  Taking the GIL again there would nest take_gil in
     * itself, and its condition variable may then wait for itself. */
    bool runtime_lock = blocked != NULL && (long)in->regs.orig_rax == SYS_futex && in->regs.rdi >= in->python_lo &&
                        in->regs.rdi < in->python_hi;
    if (step(in, "probe") < 0)
        return -1;
    struct user_regs_struct r = in->regs, at;
    r.rax = in->sym.check;
    int w = run_trampoline(in, rs_trampoline, &r, SHORT_TIMEOUT_MS, &at);
    if (w != 0)
        return w < 0 ? -1 : failf(in, "PyGILState_Check() did not return within %d s in PID %ld",
                                  SHORT_TIMEOUT_MS / 1000, (long)in->pid);
    bool holds_gil = (int)at.rbx != 0;
    if (step(in, "call") < 0)
        return -1;
    uint64_t code = in->page + CODE_OFFSET;
    r = at;
    if (blocked != NULL && !holds_gil && !runtime_lock) {
        snprintf(outcome->where, sizeof outcome->where, "blocked in %s", blocked);
        r.r12 = in->sym.ensure;
        r.r13 = in->sym.check;
        r.r14 = in->sym.run;
        r.r15 = in->sym.release;
        r.rbp = code;
        w = run_trampoline(in, rs_trampoline_direct, &r, CALL_TIMEOUT_MS, &at);
        if (w > 0)
            return failf(in, "the main thread of PID %ld did not get the GIL within %d s (another thread holds it, "
                         "busy in C code?); refscope's call stays queued there and starts the listener when the GIL "
                         "comes, the program otherwise unchanged: try again later", (long)in->pid,
                         CALL_TIMEOUT_MS / 1000);
        if (w < 0)
            return -1;
        if ((int)at.r12 != 1)
            return failf(in, "PyGILState_Ensure() did not give PID %ld's main thread the GIL, so refscope ran "
                         "nothing", (long)in->pid);
        if ((long)at.r13 != 0)
            return failf(in, "PyRun_SimpleString() failed in PID %ld", (long)in->pid);
        outcome->ran = true;
    } else {
        snprintf(outcome->where, sizeof outcome->where, "%s",
                 runtime_lock ? "waiting for the GIL" : blocked != NULL ? "in a system call holding the GIL" : "running");
        r.rax = in->sym.pending;
        r.rdi = in->sym.run;
        r.rsi = code;
        w = run_trampoline(in, rs_trampoline, &r, SHORT_TIMEOUT_MS, &at);
        if (w > 0) {
            /* Py_AddPendingCall waits for its lock only when the main
             * thread itself holds it: it never gets it.  Abandon the call. */
            in->in_flight = false;
            return failf(in, "Py_AddPendingCall() did not return within %d s in PID %ld; nothing was changed, try "
                         "again", SHORT_TIMEOUT_MS / 1000, (long)in->pid);
        }
        if (w < 0)
            return -1;
        if ((int)at.rbx != 0)
            return failf(in, "Py_AddPendingCall() refused in PID %ld (its queue is full); try again", (long)in->pid);
        outcome->ran = false;
    }
    return 0;
}

int rs_inject_python(pid_t pid, const char *code, const char *python_version, rs_inject_outcome *outcome,
                     char *err, size_t err_len)
{
    injection in = {.pid = pid, .err = err, .err_len = err_len, .mem_fd = -1};
    in.fail_at = getenv("REFSCOPE_INJECT_FAIL_AT");
    in.kill_at = getenv("REFSCOPE_INJECT_KILL_AT");
    *outcome = (rs_inject_outcome){.ran = false};
    err[0] = '\0';
    /* Only SIGKILL may end this process while the target is in our hands;
     * SIGCHLD is collected with sigtimedwait. */
    sigset_t block, old;
    sigemptyset(&block);
    int blocked_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM};
    for (size_t i = 0; i < sizeof blocked_signals / sizeof blocked_signals[0]; i++)
        sigaddset(&block, blocked_signals[i]);
    sigprocmask(SIG_BLOCK, &block, &old);

    int rc = -1;
    char path[64];
    if (step(&in, "check") < 0 || check_process(&in) < 0)
        goto out;
    snprintf(path, sizeof path, "/proc/%ld/mem", (long)pid);
    in.mem_fd = open(path, O_RDWR | O_CLOEXEC);
    if (in.mem_fd < 0 && (errno == EACCES || errno == EPERM)) {
        ptrace_denied(&in, errno);
        goto out;
    }
    if (in.mem_fd < 0) {
        failf(&in, "cannot open %s: %s", path, strerror(errno));
        goto out;
    }
    if (find_symbols(&in, python_version) < 0 || step(&in, "seize") < 0)
        goto out;
    if (ptrace(PTRACE_SEIZE, pid, NULL, (void *)(long)PTRACE_O_TRACESYSGOOD) < 0) {
        ptrace_denied(&in, errno);
        goto out;
    }
    in.seized = true;
    outcome->attached = true;
    if (step(&in, "stop") < 0 || stop_target(&in, STOP_TIMEOUT_MS) < 0 || step(&in, "save") < 0 ||
        save_state(&in) < 0 || check_stack(&in) < 0)
        goto out;
    in.scratch_sp = scratch_stack(&in);
    if (prepare_page(&in, code) < 0 || call_python(&in, outcome) < 0 || step(&in, "restore") < 0)
        goto out;
    struct user_regs_struct back = final_regs(&in, STOP_SYSCALL);
    if (set_regs(&in, &back) < 0)
        goto out;
    if (in.fp_type != 0 && ptrace(PTRACE_SETREGSET, pid, (void *)(long)in.fp_type, &in.fp) < 0) {
        failf(&in, "cannot restore the vector registers of PID %ld: %s", (long)pid, strerror(errno));
        goto out;
    }
    if (step(&in, "detach") < 0)
        goto out;
    if (ptrace(PTRACE_DETACH, pid, NULL, NULL) < 0) {
        failf(&in, "cannot detach from PID %ld: %s", (long)pid, strerror(errno));
        goto out;
    }
    in.seized = false;
    rc = 0;
out:
    if (rc < 0)
        restore_and_detach(&in);
    if (in.mem_fd >= 0)
        close(in.mem_fd);
    free(in.fp.iov_base);
    /* Drop the SIGCHLDs of the stops before the old mask comes back. */
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    while (sigtimedwait(&chld, NULL, &(struct timespec){0}) > 0)
        ;
    sigprocmask(SIG_SETMASK, &old, NULL);
    return rc;
}

#else

int rs_inject_python(pid_t pid, const char *code, const char *python_version, rs_inject_outcome *outcome,
                     char *err, size_t err_len)
{
    (void)code;
    (void)python_version;
    *outcome = (rs_inject_outcome){.ran = false};
    snprintf(err, err_len, "refscope's injector works on x86_64 only, so it cannot start a listener in PID %ld "
             "here; have the program call refscope.install(), or start it with `refscope run`", (long)pid);
    return -1;
}

#endif
