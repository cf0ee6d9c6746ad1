using System.Buffers;
using System.Text;

namespace CassaFS.Fuse;

// The awaiting halves of the callbacks: C# forbids await in an unsafe context, so they live in a safe part.
#pragma warning disable CA1001 // See FuseSession.cs.
internal sealed partial class FuseSession
#pragma warning restore CA1001
{
    private async Task CompleteLater<T>(nint req, ValueTask<FuseResult<T>> task, Action<FuseSession, nint, T> reply) =>
        Send(req, await Settle(task).ConfigureAwait(false), reply);

    private async Task CompleteLater(nint req, ValueTask<Errno> task, long interruptId) =>
        SendErrno(req, await Settle(task).ConfigureAwait(false), interruptId);

    private async Task ReadLater(nint req, ValueTask<FuseResult<int>> task, byte[] buffer, int length) =>
        SendRead(req, await Settle(task).ConfigureAwait(false), buffer, length);

    private async Task WriteLater(nint req, ValueTask<FuseResult<int>> task, byte[] buffer)
    {
        var result = await Settle(task).ConfigureAwait(false);
        ArrayPool<byte>.Shared.Return(buffer);
        Send(req, result, ReplyWritten);
    }

    private async Task ReadDirectoryLater(nint req, ValueTask<Errno> task, DirectoryBuffer buffer) =>
        SendDirectory(req, await Settle(task).ConfigureAwait(false), buffer);

    /// <summary>The handler's result, or the errno its exception stands for: every handler failure becomes an errno.</summary>
    private async ValueTask<FuseResult<T>> Settle<T>(ValueTask<FuseResult<T>> task)
    {
        try
        {
            return await task.ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Nothing may unwind into libfuse.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            return ErrnoOf(ex);
        }
    }

    private async ValueTask<Errno> Settle(ValueTask<Errno> task)
    {
        try
        {
            return await task.ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Nothing may unwind into libfuse.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            return ErrnoOf(ex);
        }
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
