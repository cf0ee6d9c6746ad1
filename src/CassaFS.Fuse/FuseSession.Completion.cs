using System.Buffers;
using System.Text;

namespace CassaFS.Fuse;

// The awaiting halves of the callbacks: C# forbids await in an unsafe context, so they live in a safe part.
#pragma warning disable CA1001 // See FuseSession.cs.
internal sealed partial class FuseSession
#pragma warning restore CA1001
{
    private async Task CompleteLater<T>(nint req, ValueTask<FuseResult<T>> task, Action<FuseSession, nint, T> reply) =>
        Send(req, (await Settle(task, bounded: true).ConfigureAwait(false)).Result, reply);

    // A blocking lock wait (it has an interrupt id) may rightly last minutes: only Ctrl+C (INTERRUPT) ends it.
    private async Task CompleteLater(nint req, ValueTask<Errno> task, long interruptId) =>
        SendErrno(req, (await Settle(task, bounded: interruptId == 0).ConfigureAwait(false)).Result, interruptId);

    private async Task ReadLater(nint req, ValueTask<FuseResult<int>> task, byte[] buffer, int length)
    {
        var (result, abandoned) = await Settle(task, bounded: true).ConfigureAwait(false);
        // An abandoned handler may still fill the buffer: it is left to the garbage collector, not handed back to the pool.
        if (abandoned) Send(req, result, static (_, _, _) => { });
        else SendRead(req, result, buffer, length);
    }

    private async Task WriteLater(nint req, ValueTask<FuseResult<int>> task)
    {
        var (result, _) = await Settle(task, bounded: true).ConfigureAwait(false);
        Send(req, result, ReplyWritten);
    }

    private async Task ReadDirectoryLater(nint req, ValueTask<Errno> task, DirectoryBuffer buffer)
    {
        var (result, abandoned) = await Settle(task, bounded: true).ConfigureAwait(false);
        if (abandoned) SendErrno(req, result, 0);
        else SendDirectory(req, result, buffer);
    }

    /// <summary>
    /// The handler's result, or the errno its exception stands for: every handler failure becomes an errno. With an
    /// <see cref="FuseMountOptions.OperationTimeout"/> (a soft mount) a handler that has not finished in time is
    /// abandoned: the kernel gets EIO at once, the handler runs on (its outcome unknown, its result dropped).
    /// </summary>
    private ValueTask<(FuseResult<T> Result, bool Abandoned)> Settle<T>(ValueTask<FuseResult<T>> task, bool bounded) =>
        Settle(task.AsTask(), bounded, static errno => (FuseResult<T>)errno);

    private ValueTask<(Errno Result, bool Abandoned)> Settle(ValueTask<Errno> task, bool bounded) =>
        Settle(task.AsTask(), bounded, static errno => errno);

    private async ValueTask<(TResult Result, bool Abandoned)> Settle<TResult>(Task<TResult> pending, bool bounded, Func<Errno, TResult> failed)
    {
        try
        {
            if (bounded && !await FinishesInTime(pending).ConfigureAwait(false)) return (failed(Errno.EIO), true);
            return (await pending.ConfigureAwait(false), false);
        }
#pragma warning disable CA1031 // Nothing may unwind into libfuse.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            return (failed(ErrnoOf(ex)), false);
        }
    }

    /// <summary>False when the mount is soft and the handler outlived its timeout (then reported to OnHandlerError).</summary>
    private async Task<bool> FinishesInTime(Task pending)
    {
        if (Options.OperationTimeout is not { } limit) return true;
        if (await Task.WhenAny(pending, Task.Delay(limit)).ConfigureAwait(false) == pending) return true;
        _ = pending.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        Options.OnHandlerError?.Invoke(new TimeoutException(
            $"an operation took longer than the {limit.TotalSeconds:F0} s timeout (soft mount): answered EIO; it goes on in the background and its outcome is unknown (mount with -o hard to wait instead)"));
        return false;
    }

    private static async ValueTask<FuseResult<ReadOnlyMemory<byte>>> EncodeNames(ValueTask<FuseResult<IReadOnlyList<string>>> names)
    {
        var r = await names.ConfigureAwait(false);
        if (!r.IsSuccess)
        {
            return r.Error;
        }
        var bytes = new List<byte>();
        foreach (var n in r.Value)
        {
            bytes.AddRange(Encoding.UTF8.GetBytes(n));
            bytes.Add(0);
        }
        return new ReadOnlyMemory<byte>(bytes.ToArray());
    }
}
