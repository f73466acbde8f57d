"""Tasks and a deterministic scheduler: system calls that can sleep, and run together.

Every user-space operation is a system call that a task enters and leaves
(`Scheduler.run`). Each task runs on a greenlet of its own, so module code can block
inside any call (`mutex_lock` is a plain function) and another task runs meanwhile;
the greenlet the scheduler was called on is its idle loop. Nothing runs in parallel:
one task runs until it blocks, ends, or reaches a scheduling point where the
schedule preempts it. The default order is Linux's on one CPU with no preemption:
a task runs until it blocks or ends, then the lowest-numbered runnable task runs.

A schedule is a short list of preemptions over that order, `t1 at kfree#2 -> t2`:
when task 1 makes its second call of `kfree`, task 2 runs (if it can) before the
call. Scheduling points are the kernel calls where a task may sleep or where another
CPU could slip in: every might_sleep, each lock acquired or released, kfree,
kref_put, and each wake-up. They are counted only inside a concurrent group, so a
serial program pays one attribute test per point.

When every task waits and some wait for time (msleep, a timeout) or a timer is
armed, the clock jumps to the earliest of those and the timer softirq runs what
falls due, as real time would pass. When every task waits and nothing can wake
one, the user gives up on the interruptible sleepers, as Ctrl-C would: their waits
end with -ERESTARTSYS (a read waiting for data a device never sends is no bug). If
tasks in uninterruptible sleep are still blocked then, they are deadlocked: a `hang`
finding carrying each task's stack, its locks and what it waits for. Linux's
hung-task detector (kernel/hung_task.c) likewise sees only uninterruptible sleepers,
after a timeout that here is "nothing else can happen".
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from greenlet import getcurrent, greenlet

from . import titles
from .current import Task
from .errno import EINTR, ERESTARTSYS, ESRCH
from .faults import Faults
from .findings import KernelStop
from .frames import api_call, guilty_site, module_stack
from .kcsan import Kcsan

if TYPE_CHECKING:
    from .core import Kernel
    from .module import Module

MAX_IDLE_JUMPS = 1_000  # clock jumps in one run with no task made runnable: a deadlock with a timer
GROUP_TASKS = 3  # at most this many tasks in one concurrent group
POOL = 4  # idle greenlets kept for the next tasks


@dataclass(frozen=True)
class Preempt:
    """One preemption of a schedule: at task `task`'s `nth` call of `call`, run `to`."""

    task: int
    call: str
    nth: int
    to: int

    def format(self) -> str:
        nth = f"#{self.nth}" if self.nth > 1 else ""
        return f"t{self.task} at {self.call}{nth} -> t{self.to}"


@dataclass(frozen=True)
class Drawn:
    """A preemption the fuzzer drew before knowing the calls: at task `task`'s
    `point`-th scheduling point (any call), run `to`. What fires is kept as a Preempt.

    As in PCT (Burckhardt et al., ASPLOS 2010), a task preempted this way drops below
    every other task of the group: from then on, at each of its scheduling points where
    a task above it can run (one it woke, say, by unlocking the mutex that task waits
    for), that task runs first. Each such switch is kept as a Preempt too, so the
    program's schedule replays it exactly without knowing of priorities."""

    task: int
    point: int
    to: int


class Wait:
    """What a blocked task waits for: a condition, a time (jiffies), or a signal."""

    __slots__ = ("ready", "deadline", "interruptible", "what")

    def __init__(self, what: str, ready: Callable[[], bool] | None = None, deadline: int | None = None,
                 interruptible: bool = False):
        self.what = what
        self.ready = ready
        self.deadline = deadline
        self.interruptible = interruptible


# why a wait ended
WOKEN, TIMED_OUT, SIGNALLED = 0, 1, 2


@dataclass
class Syscall:
    """One operation as a task runs it: the handler and its arguments, as root or nobody,
    with its own fault injection."""

    handler: Callable[..., Any]
    args: tuple[Any, ...]
    fail_nth: int | None = None
    nobody: bool = False
    comm: str = "kfuzz"


class Thread:
    """A task the scheduler runs: its greenlet, and the kernel state that is the
    task's own (`current`, the module context stack, uid, fault injection), saved
    while another task runs."""

    __slots__ = ("num", "task", "glet", "wait", "signal", "done", "result", "counts", "points",
                 "current", "context", "uid", "faults", "clock", "vc", "call", "crumbs", "loading")

    def __init__(self, num: int, task: Task, faults: Faults, call: Syscall, clock: bool = False):
        self.num = num
        self.call = call
        self.clock = clock  # the kernel's own (a softirq or kworker it started while tasks slept)
        self.vc: dict[int, int] = {num: 1}  # its vector clock, for KCSAN (kcsan.py)
        self.crumbs: list[bytes] = []  # the module functions it is in, for a crash report
        self.loading: Any = None  # the module whose body it runs (insmod), the loader's state
        self.task = task
        self.glet: greenlet | None = None
        self.wait: Wait | None = None
        self.signal = False
        self.done = False
        self.result: Any = None
        self.counts: dict[str, int] = {}  # scheduling points met, by call
        self.points = 0
        self.current = task  # `current` while it runs: a kworker when it runs work inline
        self.context: list[Module | None] = []
        self.uid = 0
        self.faults = faults

    def runnable(self, jiffies: int) -> bool:
        wait = self.wait
        if self.done:
            return False
        if wait is None:
            return True
        if wait.ready is not None and wait.ready():
            return True
        if wait.interruptible and self.signal:
            return True
        return wait.deadline is not None and jiffies >= wait.deadline


class Scheduler:
    """The kernel's run queue for one system call or one concurrent group."""

    def __init__(self, kernel: Kernel):
        self.kernel = kernel
        self.threads: list[Thread] = []
        self.running: Thread | None = None
        self.group = False  # more than one task: scheduling points count
        self.loop: greenlet | None = None
        self.plan: dict[tuple[int, str, int], int] = {}
        self.drawn: dict[tuple[int, int], int] = {}
        self.demoted: list[int] = []  # tasks a drawn preemption put below the others, first lowest
        self.fired: list[Preempt] = []
        # the points where a preemption could have fired (another task runnable), in order:
        # what `kfuzz check` enumerates schedules over
        self.reached: list[Preempt] = []
        self.next: Thread | None = None
        self.stopping = False
        self.halted = False  # a fatal finding stopped a task: every task stops

    # -- running system calls ------------------------------------------------------------
    def run(self, calls: list[Syscall], plan: tuple[Preempt, ...] = (),
            drawn: tuple[Drawn, ...] = ()) -> list[Any]:
        """Runs the calls as tasks t1..tN until each ends; their results in order. A
        fatal finding in any task stops them all (KernelStop, after the rest unwound)."""
        kernel = self.kernel
        if self.loop is not None:  # a system call from inside one (the kernel's own tests)
            return [self._nested(call) for call in calls]
        self.group = len(calls) > 1
        self.plan = {(p.task, p.call, p.nth): p.to for p in plan}
        self.drawn = {(d.task, d.point): d.to for d in drawn}
        self.demoted = []
        self.fired = []
        self.reached = []
        self.next = None
        self.stopping = self.halted = False
        self.loop = getcurrent()
        saved = (kernel.task, kernel.context, kernel.uid, kernel.faults)
        loading = kernel.loader.loading
        self.threads = []
        for n, call in enumerate(calls, 1):
            if self.group:
                task, faults = Task(call.comm, 100 + n), Faults()
            else:
                task, faults = kernel.user, kernel.faults
            self.threads.append(self._start(n, task, faults, call))
        stop: KernelStop | None = None
        if self.group and kernel.config.kcsan:
            kernel.kcsan = kernel.mm.kcsan = Kcsan(kernel)
        try:
            self._schedule()
        except KernelStop as exc:
            stop = exc
        finally:
            self._unwind()
            kernel.kcsan = kernel.mm.kcsan = None
            self.loop = None
            self.running = None
            kernel.task, kernel.context, kernel.uid, kernel.faults = saved
            kernel.loader.loading = loading
        if stop is not None or self.halted:
            raise stop or KernelStop(kernel.findings[-1])
        return [th.result for th in self.threads[:len(calls)]]

    def _start(self, num: int, task: Task, faults: Faults, call: Syscall, clock: bool = False) -> Thread:
        th = Thread(num, task, faults, call, clock)
        th.uid = 65534 if call.nobody else 0
        faults.arm(call.fail_nth)
        return th


    def _body(self, th: Thread) -> None:
        """The task's life: the system call, then the check on its way back to user space."""
        kernel, call = self.kernel, th.call
        try:
            result = call.handler(*call.args)
            if isinstance(result, int) and result == -ERESTARTSYS:
                result = -EINTR  # no SA_RESTART handler: user space sees EINTR
            th.result = result
            task = th.task
            if task.held and not th.clock:
                kernel.locking.check_released(titles.LOCK_HELD_RETURNING, [
                    "WARNING: lock held when returning to user space!",
                    f"{task} is leaving the kernel with locks still held!"])
        except KernelStop:
            th.result = None
            self.halted = True
        finally:
            th.done = True
            th.faults.disarm()

    def _nested(self, call: Syscall) -> Any:
        """A system call made while one runs: on the caller's task, as before tasks."""
        kernel = self.kernel
        uid, kernel.uid = kernel.uid, 65534 if call.nobody else 0
        kernel.faults.arm(call.fail_nth)
        try:
            return call.handler(*call.args)
        finally:
            kernel.faults.disarm()
            kernel.uid = uid

    def _schedule(self) -> None:
        idle_jumps = 0  # the kernel's own work since a task last ran: a periodic timer ends no wait
        while not self.halted:
            th = self._pick()
            if th is None:
                if all(t.done for t in self.threads):
                    return
                idle_jumps += 1
                kernel_can = idle_jumps <= MAX_IDLE_JUMPS and (self._run_work() or self._pass_time())
                if not kernel_can and not self._interrupt():
                    self._deadlock()
                continue
            if not th.clock:
                idle_jumps = 0
            self._switch(th)

    def _run_work(self) -> bool:
        """Every task waits and work is queued: a kworker runs it, as Linux's would on
        its own (the waiter may be waiting for that very work)."""
        kernel = self.kernel
        if self._kthread_busy():
            return False
        if not any(wq.items for wq in [kernel.workqueues.system, *kernel.workqueues.queues]):
            return False
        self._kthread(Task("kworker/0:1", 2), kernel.workqueues.run_all)
        return True

    def _interrupt(self) -> bool:
        """Every task waits and nothing the kernel does can end a wait: the user gives up
        on the interruptible sleepers, as Ctrl-C does, and their waits end (-ERESTARTSYS).
        Only a task in uninterruptible sleep that this cannot free is hung, as only those
        are to kernel/hung_task.c. False when no sleeper is left to interrupt."""
        sleepers = [th for th in self.threads
                    if not th.done and th.wait is not None and th.wait.interruptible and not th.signal]
        for th in sleepers:
            th.signal = True
        return bool(sleepers)

    def _kthread_busy(self) -> bool:
        """A kernel task started earlier (softirq, kworker) has not ended yet."""
        return any(th.clock and not th.done for th in self.threads)

    def _kthread(self, task: Task, fn: Callable[..., Any], *args: Any) -> None:
        """Starts a task of the kernel's own: no user, no fault injection, no return check."""
        call = Syscall(fn, args, comm=task.comm)
        self.threads.append(self._start(len(self.threads) + 1, task, Faults(), call, clock=True))

    def _pick(self) -> Thread | None:
        jiffies = self.kernel.jiffies
        nxt, self.next = self.next, None
        if nxt is not None and nxt.runnable(jiffies):
            return nxt
        for th in self.threads:
            if th.runnable(jiffies):
                return th
        return None

    def _switch(self, th: Thread) -> None:
        kernel = self.kernel
        kernel.task, kernel.context, kernel.uid, kernel.faults = th.current, th.context, th.uid, th.faults
        kernel.loader.loading = th.loading
        self.running = th
        tracer = kernel.tracer
        crumbs = tracer.swap(th.crumbs) if tracer is not None and self.group else None
        if th.glet is None:  # its first run: on a pooled greenlet
            fresh = IDLE.pop() if IDLE else greenlet(_serve)
            assert self.loop is not None
            fresh.parent = self.loop
            th.glet = fresh
            fresh.switch((self, th))
        else:
            th.glet.switch()
        if crumbs is not None and tracer is not None:
            tracer.swap(crumbs)
        self.running = None
        if th.done:
            self._retire(th)

    def _retire(self, th: Thread) -> None:
        glet, th.glet = th.glet, None
        if glet is not None and not glet.dead and len(IDLE) < POOL:
            IDLE.append(glet)

    def _yield(self, th: Thread) -> None:
        """Back to the scheduler; returns when this task runs again. Module code whose
        module another task unloaded meanwhile returns into freed text: a page fault."""
        kernel = self.kernel
        th.current, th.context, th.uid = kernel.task, kernel.context, kernel.uid
        th.loading = kernel.loader.loading
        assert self.loop is not None
        self.loop.switch()
        if self.stopping:
            raise KernelStop(self.kernel.findings[-1])
        kernel.check_context()

    def _unwind(self) -> None:
        """Every task still inside the kernel unwinds (a fatal finding, or a deadlock)."""
        self.stopping = True
        for th in self.threads:
            glet = th.glet
            if glet is not None and glet and not th.done:
                kernel = self.kernel
                kernel.task, kernel.context = th.current, th.context
                try:
                    glet.throw(KernelStop(kernel.findings[-1]) if kernel.findings else SystemExit())
                except (KernelStop, SystemExit):
                    pass
            self._retire(th)
        self.stopping = False

    # -- what kernel code calls -------------------------------------------------------------
    def point(self, call: str = "") -> None:
        """A scheduling point of the running task: the schedule may preempt it here.
        It is named by the kernel function module code called (`mutex_lock`)."""
        if not self.group or self.stopping:
            return
        th = self.running
        if th is None or getcurrent() is not th.glet:
            return
        call = call or api_call(sys._getframe(1))
        nth = th.counts[call] = th.counts.get(call, 0) + 1
        th.points += 1
        jiffies = self.kernel.jiffies
        for other in self.threads:
            if other is not th and not other.clock and other.runnable(jiffies):
                self.reached.append(Preempt(th.num, call, nth, other.num))
        to = self.plan.get((th.num, call, nth))
        if to is None and self.drawn:
            to = self.drawn.get((th.num, th.points))
            if to is None:
                to = self._above(th)
            elif to != th.num:
                if th.num not in self.demoted:
                    self.demoted.insert(0, th.num)
                if 0 < to <= len(self.threads) and not self.threads[to - 1].runnable(jiffies):
                    to = self._above(th)  # the task drawn cannot run: the next above it
        if to is None or to == th.num or not 0 < to <= len(self.threads):
            return
        target = self.threads[to - 1]
        if not target.runnable(jiffies):
            return  # a preemption that cannot fire is ignored
        self.fired.append(Preempt(th.num, call, nth, to))
        self.next = target
        self._yield(th)

    def _above(self, th: Thread) -> int | None:
        """A drawn schedule's task that outranks the demoted `th` and can run: a task never
        demoted (the lowest-numbered), else one demoted after it (PCT's priorities)."""
        if th.num not in self.demoted:
            return None
        jiffies = self.kernel.jiffies
        rank = self.demoted.index(th.num)
        for other in self.threads:
            if other is th or other.clock or not other.runnable(jiffies):
                continue
            if other.num not in self.demoted or self.demoted.index(other.num) < rank:
                return other.num
        return None

    def block(self, wait: Wait) -> int:
        """Sleeps until the wait is over: WOKEN, TIMED_OUT or SIGNALLED."""
        th = self.running
        if th is None or getcurrent() is not th.glet:
            return self._block_inline(wait)
        if self.stopping:
            raise KernelStop(self.kernel.findings[-1])
        th.wait = wait
        try:
            self._yield(th)
        finally:
            th.wait = None
        return self._why(th, wait)

    def _why(self, th: Thread | None, wait: Wait) -> int:
        if wait.ready is not None and wait.ready():
            return WOKEN
        if wait.interruptible and th is not None and th.signal:
            return SIGNALLED
        return TIMED_OUT

    def _block_inline(self, wait: Wait) -> int:
        """A wait outside any task (the kernel's own tests call kapi directly): time
        passes until it is over, or it never will be."""
        for _ in range(MAX_IDLE_JUMPS):
            if wait.ready is not None and wait.ready():
                return WOKEN
            if wait.deadline is not None and self.kernel.jiffies >= wait.deadline:
                return TIMED_OUT
            if not self._pass_time([wait]):
                break
        if wait.interruptible:  # nothing will end it: the user gives up (see _interrupt)
            return SIGNALLED
        self._deadlock([wait])
        return TIMED_OUT

    def signal(self, num: int) -> int:
        """Delivers a signal to task `num` of the group: its interruptible waits end."""
        if not 0 < num <= len(self.threads):
            return -ESRCH
        self.threads[num - 1].signal = True
        return 0

    def signal_pending(self) -> bool:
        th = self.running
        return th is not None and th.signal

    # -- time and deadlock ---------------------------------------------------------------------
    def _pass_time(self, waits: list[Wait] | None = None) -> bool:
        """Every task waits: the clock jumps to the earliest deadline or armed timer,
        and the timer softirq runs what falls due, on a task of its own so that work it
        runs may block too. False when nothing waits on time."""
        kernel = self.kernel
        inline = waits is not None
        if waits is None:
            waits = [th.wait for th in self.threads if not th.done and th.wait is not None]
        times = [w.deadline for w in waits if w.deadline is not None]
        clock_busy = self._kthread_busy()
        if not clock_busy:
            times += [t.expires for t in kernel.timers.pending]
        if not times:
            return False
        kernel.jiffies = max(min(times), kernel.jiffies)
        if clock_busy or not any(t.expires <= kernel.jiffies for t in kernel.timers.pending):
            return True
        if inline:
            task, kernel.task = kernel.task, Task("ksoftirqd/0", 9)
            try:
                kernel.timers.tick(0)
            finally:
                kernel.task = task
            return True
        self._kthread(Task("ksoftirqd/0", 9), kernel.timers.tick, 0)
        return True

    def _deadlock(self, waits: list[Wait] | None = None) -> None:
        """Every task waits and nothing can wake one: a hang, with each task's state."""
        kernel = self.kernel
        lines = ["INFO: task deadlock: every task is blocked and nothing can wake one"]
        blocked = [th for th in self.threads if not th.done and th.wait is not None]
        stacks = []
        for th in blocked:
            assert th.wait is not None
            frame = th.glet.gr_frame if th.glet is not None else None
            stack = module_stack(frame) if frame is not None else []
            stacks.append(stack)
            lines.append(f"task {th.task.comm}:{th.task.pid} (t{th.num}) blocked: {th.wait.what}")
            lines += [f"  {s.format().strip()}" for s in stack]
            lines += [f"  holds {h.describe()}" for h in th.task.held]
        if waits:
            lines.append(f"task {kernel.task.comm}:{kernel.task.pid} blocked: {waits[0].what}")
            stacks.append(module_stack(sys._getframe(2)))
        # the title names the blocked task whose function sorts first, as KCSAN sorts its
        # pair: one deadlock keeps one title whichever task the program numbered first
        named = [(guilty_site(st), k) for k, st in enumerate(stacks) if st]
        first = min(named, key=lambda n: n[0].function if n[0] else "")[1] if named else -1
        stack = stacks[first] if named else []
        if 0 <= first < len(blocked):  # the report's task line names that task
            kernel.task = blocked[first].task
        kernel.report(titles.HANG, "\n".join(lines), stack=stack)


# greenlets that ran a task and wait for the next, of any kernel of this process: making
# one costs twenty times a switch, and every operation is a task
IDLE: list[greenlet] = []


def _serve(job: tuple[Scheduler, Thread]) -> None:
    """A pooled greenlet's life: a task's system call, then the next one's. Idle, it
    holds no kernel (a suspended greenlet in a cycle would keep its kernel forever)."""
    while True:
        sched, th = job
        del job
        sched._body(th)
        loop = sched.loop
        del sched, th
        assert loop is not None
        job = loop.switch()
