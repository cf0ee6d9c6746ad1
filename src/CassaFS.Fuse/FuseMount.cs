using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using CassaFS.Fuse.Native;

namespace CassaFS.Fuse;

/// <summary>
/// A mounted <see cref="FuseFileSystem"/>: the libfuse session loop runs on its own thread until
/// <see cref="UnmountAsync"/> (or DisposeAsync, a signal, or an external umount) ends it.
/// </summary>
public sealed class FuseMount : IAsyncDisposable
{
    private readonly FuseSession _session;
    private readonly TaskCompletionSource<int> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<PosixSignalRegistration> _signals = [];
    private readonly object _gate = new();
    private Task? _unmounting;

    private FuseMount(FuseSession session) => _session = session;

    /// <summary>The absolute mount point.</summary>
    public string MountPoint => _session.MountPoint;

    /// <summary>The options the mount was made with.</summary>
    public FuseMountOptions Options => _session.Options;

    /// <summary>max_write the kernel connection settled on.</summary>
    public int MaxWrite => (int)_session.ConnectionMaxWrite;

    /// <summary>Completes with the session loop's result (0, -errno) once the session is torn down, however it ended.</summary>
    public Task<int> Completion => _completion.Task;

    /// <summary>The libfuse version string, e.g. "3.14.0".</summary>
    public static unsafe string LibFuseVersion
    {
        get
        {
            try
            {
                return Marshal.PtrToStringUTF8((nint)LibFuse.PackageVersion()) ?? "unknown";
            }
            catch (DllNotFoundException ex)
            {
                throw new FuseMountException(string.Empty,
                    "libfuse3.so.3 is not installed; install the fuse3 and libfuse3-3 packages (apt-get install fuse3 libfuse3-3).", ex);
            }
        }
    }

    /// <summary>
    /// Mounts <paramref name="fileSystem"/> on the directory <paramref name="mountPoint"/> and returns once the
    /// kernel connection is initialised. Throws <see cref="FuseMountException"/> when the directory is already a
    /// mount point (including a dead FUSE mount), does not exist, or libfuse refuses.
    /// </summary>
    public static async Task<FuseMount> MountAsync(string mountPoint, FuseFileSystem fileSystem, FuseMountOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(mountPoint);
        ArgumentNullException.ThrowIfNull(fileSystem);
        options ??= new FuseMountOptions();
        StatLayout.EnsureSupported();
        _ = LibFuseVersion;

        string full = Resolve(mountPoint);
        FusermountWatchers.Reap();
        if (MountTable.Find(full) is { } existing)
        {
            throw new FuseMountException(full,
                $"{full} is already a mount point ({existing.FileSystemType} from '{existing.Source}'). Unmount it first " +
                $"(umount {full}, or fusermount3 -u -z {full} for a dead FUSE mount that says 'Transport endpoint is not connected').");
        }
        if (!Directory.Exists(full))
        {
            throw new FuseMountException(full, $"The mount point {full} does not exist or is not a directory; create it first.");
        }

        var session = new FuseSession(fileSystem, options, full);
        session.Create();
        session.Mount();
        var mount = new FuseMount(session);
        fileSystem.Mount = mount;
        var loop = new Thread(mount.RunLoop)
        {
            IsBackground = true,
            Name = "fuse loop " + full,
        };
        loop.Start();

        try
        {
            var first = await Task.WhenAny(session.Initialised, mount.Completion, Task.Delay(TimeSpan.FromSeconds(30), cancellationToken)).ConfigureAwait(false);
            if (first != session.Initialised)
            {
                throw new FuseMountException(full, first == mount.Completion
                    ? $"The FUSE session for {full} ended before the kernel initialised it."
                    : $"The kernel did not initialise the FUSE connection for {full} within 30 s.");
            }
            await session.Initialised.ConfigureAwait(false);
            // libfuse can still reject INIT after the init callback (it then answers every request ECONNREFUSED);
            // statfs works on every healthy connection, even without a statfs handler.
            mount.CheckConnection();
        }
        catch
        {
            await mount.UnmountAsync().ConfigureAwait(false);
            throw;
        }

        mount.NoteConnection();
        mount.ApplyReadAhead();
        if (options.HandleTerminationSignals)
        {
            foreach (var signal in new[] { PosixSignal.SIGTERM, PosixSignal.SIGINT })
            {
                mount._signals.Add(PosixSignalRegistration.Create(signal, ctx =>
                {
                    // Keep the runtime alive: the host exits once Completion says the mount is gone.
                    ctx.Cancel = true;
                    _ = mount.UnmountAsync();
                }));
            }
        }
        return mount;
    }

    /// <summary>The canonical path (symlinks resolved, as /proc/self/mountinfo shows it), or the full path if it does not exist.</summary>
    private static unsafe string Resolve(string path)
    {
        string full = Path.GetFullPath(path);
        byte[] bytes = Encoding.UTF8.GetBytes(full + "\0");
        fixed (byte* p = bytes)
        {
            byte* resolved = LibC.RealPath(p, null);
            if (resolved != null)
            {
                try
                {
                    full = Marshal.PtrToStringUTF8((nint)resolved) ?? full;
                }
                finally
                {
                    LibC.Free(resolved);
                }
            }
        }
        return full.Length > 1 ? full.TrimEnd('/') : full;
    }

    private unsafe void CheckConnection()
    {
        byte[] mp = Encoding.UTF8.GetBytes(MountPoint + "\0");
        StatVfsNative st;
        fixed (byte* p = mp)
        {
            if (LibC.StatVfs(p, &st) == 0)
            {
                return;
            }
        }
        int errno = Marshal.GetLastPInvokeError();
        throw new FuseMountException(MountPoint,
            $"The kernel connection for {MountPoint} failed after mounting (statfs gave errno {errno}); libfuse's reason is on stderr.");
    }

    private void RunLoop()
    {
        try
        {
            int rc = _session.RunLoopAndTearDown();
            FusermountWatchers.Reap();
            _completion.TrySetResult(rc);
        }
#pragma warning disable CA1031 // The failure is handed to whoever awaits Completion.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            _completion.TrySetException(ex);
        }
    }

    // ---- cache invalidation --------------------------------------------------------------------------------
    // For changes the kernel did not see (made by another node of the filesystem). None of these may be called
    // from a handler of a related request (lookup/create/... in the same directory, setattr/write... on the inode):
    // the kernel would wait for that very request and deadlock.

    /// <summary>Drops the kernel's cached attributes of <paramref name="ino"/> (fuse_lowlevel_notify_inval_inode with a negative offset).</summary>
    /// <returns><see cref="Errno.Success"/>, ENOENT when the kernel does not hold the inode, ENOTCONN after unmount.</returns>
    public Errno InvalidateAttributes(ulong ino) => _session.Notify(s => LibFuse.NotifyInvalidateInode(s, ino, -1, 0));

    /// <summary>Drops cached data of <paramref name="ino"/> from <paramref name="offset"/> for <paramref name="length"/> bytes (0 = to the end), and its attributes.</summary>
    public Errno InvalidateData(ulong ino, long offset = 0, long length = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        return _session.Notify(s => LibFuse.NotifyInvalidateInode(s, ino, offset, length));
    }

    /// <summary>Forgets the cached name <paramref name="name"/> in <paramref name="parent"/> (and the parent's attributes), so the next access looks it up again.</summary>
    public unsafe Errno InvalidateEntry(ulong parent, string name)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(name + "\0");
        return _session.Notify(s =>
        {
            fixed (byte* p = bytes)
            {
                return LibFuse.NotifyInvalidateEntry(s, parent, p, (nuint)(bytes.Length - 1));
            }
        });
    }

    /// <summary>Like <see cref="InvalidateEntry"/> for a name known to be gone, telling inotify watchers that <paramref name="child"/> was deleted.</summary>
    public unsafe Errno NotifyDeleted(ulong parent, ulong child, string name)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(name + "\0");
        return _session.Notify(s =>
        {
            fixed (byte* p = bytes)
            {
                return LibFuse.NotifyDelete(s, parent, child, p, (nuint)(bytes.Length - 1));
            }
        });
    }

    /// <summary>
    /// Unmounts and waits for the session to end. The mount is detached at once (lazily, so a busy mount does not
    /// block); if files stay open in it past <see cref="FuseMountOptions.UnmountTimeout"/>, the connection is
    /// aborted through fusectl so the call still returns. Safe to call more than once.
    /// </summary>
    public Task UnmountAsync()
    {
        lock (_gate)
        {
            return _unmounting ??= UnmountCoreAsync();
        }
    }

    public ValueTask DisposeAsync() => new(UnmountAsync());

    private async Task UnmountCoreAsync()
    {
        try
        {
            if (!Completion.IsCompleted)
            {
                _session.Exit();
                Detach();
                if (!await CompletesWithin(Options.UnmountTimeout).ConfigureAwait(false))
                {
                    AbortConnection();
                    if (!await CompletesWithin(TimeSpan.FromSeconds(10)).ConfigureAwait(false))
                    {
                        throw new FuseMountException(MountPoint,
                            $"The FUSE session for {MountPoint} did not stop after unmount and connection abort; {_session.InFlight} requests were still running.");
                    }
                }
            }
            await Completion.ConfigureAwait(false);
        }
        finally
        {
            foreach (var s in _signals)
            {
                s.Dispose();
            }
            _signals.Clear();
        }
    }

    private async Task<bool> CompletesWithin(TimeSpan timeout)
    {
        var done = await Task.WhenAny(Completion, Task.Delay(timeout)).ConfigureAwait(false);
        return done == Completion;
    }

    /// <summary>Detaches the mount; the kernel then ends the connection and the loop's reads return ENODEV.</summary>
    private unsafe void Detach()
    {
        if (LibC.GetEuid() == 0)
        {
            byte[] mp = Encoding.UTF8.GetBytes(MountPoint + "\0");
            fixed (byte* p = mp)
            {
                if (LibC.Umount2(p, LibC.MNT_DETACH) == 0)
                {
                    return;
                }
            }
            int errno = Marshal.GetLastPInvokeError();
            // EINVAL: no longer a mount point (someone unmounted it already); the loop ends on its own.
            if (errno == (int)Errno.EINVAL || errno == (int)Errno.ENOENT)
            {
                return;
            }
        }
        RunFusermount("-u", "-z", MountPoint);
    }

    private static void RunFusermount(params string[] args)
    {
        var psi = new ProcessStartInfo("fusermount3") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        try
        {
            using var p = Process.Start(psi)!;
            p.WaitForExit(10_000);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // No fusermount3: the connection abort below is the remaining way out.
        }
    }

    /// <summary>Writes to /sys/fs/fuse/connections/N/abort, mounting fusectl there first if root and it is missing.</summary>
    private void AbortConnection()
    {
        var connection = _connectionId ??= MountTable.Find(MountPoint)?.MinorDevice;
        if (connection is null)
        {
            return;
        }
        const string Root = "/sys/fs/fuse/connections";
        string abort = $"{Root}/{connection}/abort";
        if (!File.Exists(abort) && LibC.GetEuid() == 0 && Directory.Exists(Root) && !Directory.EnumerateFileSystemEntries(Root).Any())
        {
            try
            {
                using var p = Process.Start(new ProcessStartInfo("mount", ["-t", "fusectl", "fusectl", Root]) { UseShellExecute = false });
                p?.WaitForExit(5_000);
            }
            catch (System.ComponentModel.Win32Exception)
            {
                // No mount(8): the write below fails and the caller reports the stuck session.
            }
        }
        try
        {
            File.WriteAllText(abort, "1");
        }
        catch (IOException)
        {
            // The connection went away meanwhile.
        }
        catch (UnauthorizedAccessException)
        {
            // Not ours to abort; the caller reports the stuck session.
        }
    }

    private string? _connectionId;
    private string? _device;

    /// <summary>Remembers the connection id while the mount is visible, for a later abort.</summary>
    private void NoteConnection()
    {
        var entry = MountTable.Find(MountPoint);
        _connectionId = entry?.MinorDevice;
        _device = entry?.Device;
    }

    /// <summary>
    /// The kernel caps FUSE readahead at its default window (128 KiB) whatever INIT says; raising the mount's
    /// bdi read_ahead_kb (root only) lets sequential reads arrive in requests of up to max_read.
    /// </summary>
    private void ApplyReadAhead()
    {
        int kib = Options.ReadAheadKiB;
        if (kib <= 0 || _device is null)
        {
            return;
        }
        string knob = $"/sys/class/bdi/{_device}/read_ahead_kb";
        try
        {
            File.WriteAllText(knob, kib.ToString(System.Globalization.CultureInfo.InvariantCulture));
            ReadAheadKiB = kib;
        }
        catch (IOException)
        {
            // Kept at the kernel default: slower sequential reads, nothing else.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>The readahead window set on the mount, or 0 if it stayed at the kernel default.</summary>
    public int ReadAheadKiB { get; private set; }
}

/// <summary>
/// With auto_unmount, libfuse forks fusermount3, which stays to watch the daemon and is never waited for; once
/// it exits it lingers as a zombie child. This reaps exactly those children (never others: the runtime waits
/// for the processes it started itself).
/// </summary>
internal static class FusermountWatchers
{
    internal static unsafe void Reap()
    {
        int self = Environment.ProcessId;
        try
        {
            foreach (var dir in Directory.EnumerateDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(dir), out int pid))
                {
                    continue;
                }
                string stat;
                try
                {
                    stat = File.ReadAllText(Path.Combine(dir, "stat"));
                }
                catch (IOException)
                {
                    continue;
                }
                // pid (comm) state ppid ...
                int close = stat.LastIndexOf(')');
                if (close < 0 || !stat.Contains("(fusermount3)", StringComparison.Ordinal))
                {
                    continue;
                }
                var rest = stat[(close + 2)..].Split(' ');
                if (rest.Length > 1 && rest[0] == "Z" && rest[1] == self.ToString(System.Globalization.CultureInfo.InvariantCulture))
                {
                    int status;
                    LibC.WaitPid(pid, &status, LibC.WNOHANG);
                }
            }
        }
        catch (UnauthorizedAccessException)
        {
            // Not being able to look is not worth failing a mount for.
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>The mount table as the kernel shows this process (/proc/self/mountinfo): the one parser of it (octal escapes and all).</summary>
public static class MountTable
{
    public sealed record Entry(string MountPoint, string FileSystemType, string Source, string Device)
    {
        /// <summary>The fusectl connection id: the minor number of the anonymous device FUSE mounts get (major 0).</summary>
        public string MinorDevice => Device[(Device.IndexOf(':', StringComparison.Ordinal) + 1)..];
    }

    /// <summary>Every mount, in the kernel's order (a later mount at one point is on top of an earlier one).</summary>
    public static IEnumerable<Entry> Read()
    {
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
            var fields = line.Split(' ');
            if (fields.Length < 10)
            {
                continue;
            }
            int dash = Array.IndexOf(fields, "-", 6);
            if (dash < 0 || dash + 2 >= fields.Length)
            {
                continue;
            }
            yield return new Entry(Unescape(fields[4]), fields[dash + 1], Unescape(fields[dash + 2]), fields[2]);
        }
    }

    /// <summary>The topmost mount at exactly <paramref name="mountPoint"/>, or null.</summary>
    public static Entry? Find(string mountPoint) => Read().LastOrDefault(e => e.MountPoint == mountPoint);

    private static string Unescape(string s)
    {
        if (!s.Contains('\\', StringComparison.Ordinal))
        {
            return s;
        }
        var sb = new StringBuilder(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && IsOctal(s, i + 1))
            {
                sb.Append((char)Convert.ToInt32(s.Substring(i + 1, 3), 8));
                i += 3;
            }
            else
            {
                sb.Append(s[i]);
            }
        }
        return sb.ToString();
    }

    private static bool IsOctal(string s, int at) =>
        at + 3 <= s.Length && s[at] is >= '0' and <= '7' && s[at + 1] is >= '0' and <= '7' && s[at + 2] is >= '0' and <= '7';
}
