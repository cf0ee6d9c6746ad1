using CassaFS.Fuse.Native;

namespace CassaFS.Fuse;

/// <summary>Who asked: the calling process's credentials, captured when the request arrived.</summary>
public readonly struct FuseRequestContext
{
    private readonly nint _request;
    private readonly FuseSession? _session;

    internal FuseRequestContext(nint request, FuseSession session, uint uid, uint gid, int pid, uint umask, CancellationToken interrupted)
    {
        _request = request;
        _session = session;
        Uid = uid;
        Gid = gid;
        Pid = pid;
        Umask = umask;
        Interrupted = interrupted;
    }

    /// <summary>Effective user id of the caller (0 when the caller is outside the daemon's namespaces).</summary>
    public uint Uid { get; }

    public uint Gid { get; }

    /// <summary>Thread id of the calling process.</summary>
    public int Pid { get; }

    public uint Umask { get; }

    /// <summary>
    /// Fires when the kernel interrupts the request (the caller got a signal or died). Set for blocking lock
    /// requests (setlk with wait, flock without LOCK_NB); <see cref="CancellationToken.None"/> otherwise.
    /// Also fires when the mount shuts down.
    /// </summary>
    public CancellationToken Interrupted { get; }

    /// <summary>
    /// The caller's supplementary groups (libfuse reads /proc/TID/task/TID/status). Valid only while the
    /// request is unanswered, i.e. before the handler's task completes; returns an empty array after that
    /// or when the caller is gone.
    /// </summary>
    public unsafe uint[] GetSupplementaryGroups()
    {
        if (_session is null || !_session.TryEnterNative())
        {
            return [];
        }
        try
        {
            Span<uint> first = stackalloc uint[32];
            int n;
            fixed (uint* p = first)
            {
                n = LibFuse.RequestGetGroups(_request, first.Length, p);
            }
            if (n <= 0)
            {
                return [];
            }
            if (n <= first.Length)
            {
                return first[..n].ToArray();
            }
            var all = new uint[n];
            fixed (uint* p = all)
            {
                n = LibFuse.RequestGetGroups(_request, all.Length, p);
            }
            return n <= 0 ? [] : all[..Math.Min(n, all.Length)];
        }
        finally
        {
            _session.ExitNative();
        }
    }
}
