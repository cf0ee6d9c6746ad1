using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Text;
using CassaFS.Fuse.Native;

namespace CassaFS.Fuse;

/// <summary>One libfuse session: native handles, the reply gate, in-flight accounting and interrupt tokens.</summary>
#pragma warning disable CA1001 // _shutdown is disposed by teardown, which every session reaches through its loop thread.
internal sealed unsafe partial class FuseSession
#pragma warning restore CA1001
{
    private GCHandle _self;
    private nint _session;
    private FuseArgs _args;
    private nint[] _argStrings = [];
    private nint _argvBlock;
    private int _inFlight;
    private int _nativeUsers;
    private int _closed;
    private long _nextInterruptId;
    private readonly ConcurrentDictionary<long, CancellationTokenSource> _interrupts = new();
    private readonly CancellationTokenSource _shutdown = new();
    private readonly TaskCompletionSource _initialised = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal FuseSession(FuseFileSystem fileSystem, FuseMountOptions options, string mountPoint)
    {
        FileSystem = fileSystem;
        Options = options;
        MountPoint = mountPoint;
        // Teardown fails the task when INIT never came; whoever did not wait for it must not see it unobserved.
        _initialised.Task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
    }

    internal FuseFileSystem FileSystem { get; }
    internal FuseMountOptions Options { get; }
    internal string MountPoint { get; }
    internal Task Initialised => _initialised.Task;
    internal int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Creates the libfuse session (parses the mount options); throws with libfuse's own words on failure.</summary>
    internal void Create()
    {
        var argv = new List<string> { "cassafs", "-o", BuildOptionString() };
        if (Options.Debug)
        {
            argv.Add("-d");
        }
        _argStrings = new nint[argv.Count + 1];
        for (int i = 0; i < argv.Count; i++)
        {
            _argStrings[i] = Marshal.StringToCoTaskMemUTF8(argv[i]);
        }
        var argvNative = (byte**)NativeMemory.AllocZeroed((nuint)(_argStrings.Length * sizeof(nint)));
        for (int i = 0; i < argv.Count; i++)
        {
            argvNative[i] = (byte*)_argStrings[i];
        }
        _args = new FuseArgs { Argc = argv.Count, Argv = argvNative, Allocated = 0 };
        _argvBlock = (nint)argvNative;

        var ops = BuildOperations();
        _self = GCHandle.Alloc(this);
        using var capture = LibFuseLog.Capture();
        fixed (FuseArgs* args = &_args)
        {
            _session = LibFuse.SessionNew(args, &ops, (nuint)sizeof(LowLevelOperations), GCHandle.ToIntPtr(_self));
        }
        if (_session == 0)
        {
            FreeNative();
            throw new FuseMountException(MountPoint,
                $"libfuse refused the session options '{argv[2]}' for {MountPoint}: {LibFuseLog.Scope.Text("no message")}");
        }
    }

    private string BuildOptionString()
    {
        foreach (var (name, value) in new[] { ("fsname", Options.FileSystemName), ("subtype", Options.Subtype) })
        {
            if (string.IsNullOrEmpty(value) || value.AsSpan().IndexOfAny(",\\= ") >= 0)
            {
                throw new ArgumentException($"The {name} '{value}' must be non-empty without commas, spaces, '=' or backslashes.", nameof(Options));
            }
        }
        var sb = new StringBuilder();
        sb.Append("auto_unmount");
        sb.Append(",fsname=").Append(Options.FileSystemName);
        sb.Append(",subtype=").Append(Options.Subtype);
        sb.Append(",max_read=").Append(Options.MaxRead);
        if (Options.AllowOther)
        {
            sb.Append(",allow_other");
        }
        if (Options.DefaultPermissions)
        {
            sb.Append(",default_permissions");
        }
        if (Options.ReadOnly)
        {
            sb.Append(",ro");
        }
        return sb.ToString();
    }

    /// <summary>Mounts the session; the loop must be started right after, since the kernel's INIT waits for it.</summary>
    internal void Mount()
    {
        using var capture = LibFuseLog.Capture();
        byte[] mp = Encoding.UTF8.GetBytes(MountPoint + "\0");
        int rc;
        fixed (byte* p = mp)
        {
            rc = LibFuse.SessionMount(_session, p);
        }
        if (rc != 0)
        {
            LibFuse.SessionDestroy(_session);
            _session = 0;
            FreeNative();
            throw new FuseMountException(MountPoint,
                $"Mounting {MountPoint} failed: {LibFuseLog.Scope.Text("libfuse gave no reason")}. Check that /dev/fuse exists, fusermount3 is installed and the directory is empty and not already mounted.");
        }
    }

    /// <summary>Runs the multi-threaded loop on the calling thread, then tears the session down. Returns the loop's result.</summary>
    internal int RunLoopAndTearDown()
    {
        nint config = LibFuse.LoopConfigCreate();
        int rc;
        try
        {
            uint max = (uint)Math.Max(1, Options.MaxThreads);
            LibFuse.LoopConfigSetMaxThreads(config, max);
            LibFuse.LoopConfigSetIdleThreads(config, Math.Max(1, max / 2));
            LibFuse.LoopConfigSetCloneFd(config, 0);
            rc = LibFuse.SessionLoopMt(_session, config);
        }
        finally
        {
            LibFuse.LoopConfigDestroy(config);
        }
        TearDown();
        return rc;
    }

    /// <summary>Asks the loop to stop; it only notices once the kernel side goes away (see <see cref="FuseMount"/>).</summary>
    internal void Exit()
    {
        if (TryEnterNative())
        {
            try
            {
                LibFuse.SessionExit(_session);
            }
            finally
            {
                ExitNative();
            }
        }
    }

    private void TearDown()
    {
        _initialised.TrySetException(new FuseMountException(MountPoint, $"The session for {MountPoint} ended before the kernel initialised it."));
        // Wake handlers waiting on locks: nobody will read their answers any more.
        try
        {
            _shutdown.Cancel();
        }
        catch (AggregateException)
        {
            // A token callback threw; teardown goes on regardless.
        }
        // Closes /dev/fuse; if the kernel still has the mount (the loop died of an error) this unmounts it too.
        // When someone else already unmounted, libfuse complains about a umount that had nothing left to do.
        using (var capture = LibFuseLog.Capture())
        {
            LibFuse.SessionUnmount(_session);
            string said = LibFuseLog.Scope.Text(string.Empty);
            if (said.Length > 0 && MountTable.Find(MountPoint) is not null)
            {
                Console.Error.WriteLine("libfuse: " + said);
            }
        }

        var deadline = DateTime.UtcNow + Options.DrainTimeout;
        var spin = new SpinWait();
        while (Volatile.Read(ref _inFlight) > 0 && DateTime.UtcNow < deadline)
        {
            if (spin.NextSpinWillYield)
            {
                Thread.Sleep(5);
            }
            spin.SpinOnce();
        }

        // From here no reply or other call may touch the session: late handlers find the gate closed.
        Interlocked.Exchange(ref _closed, 1);
        spin = new SpinWait();
        while (Volatile.Read(ref _nativeUsers) > 0)
        {
            spin.SpinOnce();
        }
        LibFuse.SessionDestroy(_session);
        _session = 0;
        FreeNative();
    }

    private void FreeNative()
    {
        if (_args.Argv != null)
        {
            fixed (FuseArgs* args = &_args)
            {
                // fuse_session_new may have replaced argv with its own copy; this frees that one only.
                if (_args.Allocated != 0)
                {
                    LibFuse.OptFreeArgs(args);
                }
            }
        }
        if (_argvBlock != 0)
        {
            NativeMemory.Free((void*)_argvBlock);
            _argvBlock = 0;
        }
        foreach (var s in _argStrings)
        {
            Marshal.FreeCoTaskMem(s);
        }
        _argStrings = [];
        if (_self.IsAllocated)
        {
            _self.Free();
        }
        _shutdown.Dispose();
    }

    /// <summary>Runs a notify call on the live session; ENOTCONN once it is torn down.</summary>
    internal Errno Notify(Func<nint, int> call)
    {
        if (!TryEnterNative())
        {
            return Errno.ENOTCONN;
        }
        try
        {
            int rc = call(_session);
            return rc == 0 ? Errno.Success : (Errno)Math.Abs(rc);
        }
        finally
        {
            ExitNative();
        }
    }

    /// <summary>Enters the section in which the native session may be used; false once teardown closed it.</summary>
    internal bool TryEnterNative()
    {
        Interlocked.Increment(ref _nativeUsers);
        if (Volatile.Read(ref _closed) != 0)
        {
            Interlocked.Decrement(ref _nativeUsers);
            return false;
        }
        return true;
    }

    internal void ExitNative() => Interlocked.Decrement(ref _nativeUsers);

    private void BeginRequest() => Interlocked.Increment(ref _inFlight);

    private void EndRequest() => Interlocked.Decrement(ref _inFlight);

    internal static FuseSession Of(nint req) => (FuseSession)GCHandle.FromIntPtr(LibFuse.RequestUserData(req)).Target!;

    private FuseRequestContext Context(nint req, CancellationToken interrupted = default)
    {
        var c = LibFuse.RequestContext(req);
        return new FuseRequestContext(req, this, c->Uid, c->Gid, c->Pid, c->Umask, interrupted);
    }

    /// <summary>Gives a blocking request a token that fires on FUSE_INTERRUPT or shutdown.</summary>
    private CancellationTokenSource RegisterInterrupt(nint req, out long id)
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(_shutdown.Token);
        id = Interlocked.Increment(ref _nextInterruptId);
        _interrupts[id] = cts;
        // libfuse calls the function at once if the interrupt already arrived.
        LibFuse.RequestInterruptFunc(req, &OnInterrupt, (nint)id);
        return cts;
    }

    private void ReleaseInterrupt(long id)
    {
        if (_interrupts.TryRemove(id, out var cts))
        {
            cts.Dispose();
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(System.Runtime.CompilerServices.CallConvCdecl)])]
    private static void OnInterrupt(nint req, nint data)
    {
        try
        {
            var session = Of(req);
            if (session._interrupts.TryGetValue(data, out var cts))
            {
                // Cancel on the pool: handlers' continuations must not run on libfuse's interrupt path.
                ThreadPool.UnsafeQueueUserWorkItem(static c =>
                {
                    try
                    {
                        c.Cancel();
                    }
                    catch (ObjectDisposedException)
                    {
                        // The request completed meanwhile.
                    }
                }, cts, preferLocal: false);
            }
        }
#pragma warning disable CA1031 // Nothing may unwind into libfuse.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }
}
