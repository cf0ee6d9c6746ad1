using CassaFS.Fuse;

namespace CassaFS.Fuse.Tests;

/// <summary>One real mount of <see cref="MemoryFileSystem"/> in a temp directory, shared by a test class.</summary>
public sealed class MountFixture : IAsyncLifetime
{
    public MemoryFileSystem FileSystem { get; } = new();
    public FuseMount Mount { get; private set; } = null!;
    public string Root { get; } = Directory.CreateTempSubdirectory("cassafs-fuse-").FullName;
    private int _next;

    /// <summary>Exceptions other than FuseException that escaped handlers.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<Exception> HandlerErrors { get; } = new();

    public async Task InitializeAsync() => Mount = await FuseMount.MountAsync(Root, FileSystem,
        new FuseMountOptions { Subtype = "memtest", OnHandlerError = HandlerErrors.Enqueue });

    public async Task DisposeAsync()
    {
        await Mount.DisposeAsync();
        Directory.Delete(Root);
    }

    /// <summary>A fresh directory inside the mount for one test.</summary>
    public string NewDirectory(string hint)
    {
        string path = Path.Combine(Root, $"{hint}-{Interlocked.Increment(ref _next)}");
        Directory.CreateDirectory(path);
        return path;
    }
}
