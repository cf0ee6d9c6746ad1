using System.Collections;
using System.Collections.ObjectModel;
using System.Management.Automation;
using System.Management.Automation.Provider;

namespace CassaFS.PowerShell.Provider;

/// <summary>
/// The CassaFS provider: cassa: drives over a CassaFS filesystem. It only translates between PowerShell and the logic
/// classes (ChildItemQuery, ItemOperations, ContentReader/Writer); every decision lives there.
/// </summary>
[CmdletProvider("CassaFS", ProviderCapabilities.Filter | ProviderCapabilities.Include | ProviderCapabilities.Exclude | ProviderCapabilities.ShouldProcess | ProviderCapabilities.Credentials)]
[OutputType(typeof(ItemView), ProviderCmdlet = ProviderCmdlet.GetChildItem)]
[OutputType(typeof(ItemView), ProviderCmdlet = ProviderCmdlet.GetItem)]
public sealed class CassaFSProvider : NavigationCmdletProvider, IContentCmdletProvider, IPropertyCmdletProvider
{
    // ------------------------------------------------------------ drives

    protected override object NewDriveDynamicParameters() => new CassaDriveParameters();

    protected override PSDriveInfo? NewDrive(PSDriveInfo drive)
    {
        ArgumentNullException.ThrowIfNull(drive);
        var parameters = DynamicParameters as CassaDriveParameters ?? new CassaDriveParameters();
        try
        {
            var settings = parameters.ToDriveParameters(drive.Credential);
            var root = ProviderPath.Normalize(string.IsNullOrEmpty(drive.Root) ? "/" : drive.Root);
            var session = Sync.Run(ct => CassaDriveSession.OpenAsync(settings, root, true, null, ct));
            var normalized = new PSDriveInfo(drive.Name, drive.Provider, root, drive.Description, drive.Credential);
            return new CassaDriveInfo(normalized, session);
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            WriteError(Errors.Record(e, drive.Root));
            return null;
        }
    }

    protected override PSDriveInfo? RemoveDrive(PSDriveInfo drive)
    {
        if (drive is CassaDriveInfo cassa) Sync.Run(_ => cassa.Session.DisposeAsync().AsTask());
        return drive;
    }

    private CassaDriveSession Drive =>
        (PSDriveInfo as CassaDriveInfo)?.Session
        ?? throw new InvalidOperationException("This path is not on a CassaFS drive; create one with New-PSDrive -PSProvider CassaFS.");

    private ItemOperations Items => new(Drive);

    // ------------------------------------------------------------ paths

    protected override bool IsValidPath(string path) => !string.IsNullOrEmpty(path) && !path.Contains('\0', StringComparison.Ordinal);

    protected override string MakePath(string parent, string child)
    {
        if (string.IsNullOrEmpty(parent)) return child ?? "";
        if (string.IsNullOrEmpty(child)) return parent;
        return parent.TrimEnd('/', '\\') + "/" + child.TrimStart('/', '\\');
    }

    protected override string GetParentPath(string path, string root)
    {
        if (string.IsNullOrEmpty(path)) return "";
        var trimmed = path.Replace('\\', '/').TrimEnd('/');
        if (!path.StartsWith('/') && !path.StartsWith('\\'))
        {
            // A relative path stays relative: its parent is what precedes the last separator.
            var cut = trimmed.LastIndexOf('/');
            return cut < 0 ? "" : trimmed[..cut];
        }
        var full = ProviderPath.Normalize(path);
        if (full == "/" || (!string.IsNullOrEmpty(root) && full == ProviderPath.Normalize(root))) return "";
        return ProviderPath.Parent(full);
    }

    protected override string GetChildName(string path)
    {
        if (string.IsNullOrEmpty(path)) return "";
        var trimmed = path.Replace('\\', '/').TrimEnd('/');
        return trimmed[(trimmed.LastIndexOf('/') + 1)..];
    }

    protected override string NormalizeRelativePath(string path, string basePath)
    {
        var full = ProviderPath.Normalize(path);
        var b = ProviderPath.Normalize(string.IsNullOrEmpty(basePath) ? "/" : basePath);
        return ProviderPath.IsWithin(full, b) ? ProviderPath.Relative(full, b) : full;
    }

    protected override bool ItemExists(string path) => Guard(path, () => Sync.Run(ct => Items.ExistsAsync(path, PathKind.Any, ct)), false);

    protected override bool IsItemContainer(string path) => Guard(path, () => Sync.Run(ct => Items.IsContainerAsync(path, ct)), false);

    protected override bool HasChildItems(string path) => Guard(path, () => Sync.Run(ct => Items.HasChildrenAsync(path, ct)), false);

    // ------------------------------------------------------------ items

    protected override void GetItem(string path) => Guard(path, () =>
    {
        var item = Sync.Run(ct => Items.GetAsync(path, ct));
        WriteItemObject(item, path, item.IsDirectory);
    });

    protected override void GetChildItems(string path, bool recurse) => GetChildItems(path, recurse, uint.MaxValue);

    protected override object GetChildItemsDynamicParameters(string path, bool recurse) => new CassaChildItemParameters();

    protected override void GetChildItems(string path, bool recurse, uint depth) => Guard(path, () =>
    {
        var kind = DynamicParameters as CassaChildItemParameters;
        var query = new ChildItemQuery
        {
            DirectoriesOnly = kind?.Directory.IsPresent ?? false,
            FilesOnly = kind?.File.IsPresent ?? false,
            Recurse = recurse,
            Depth = recurse ? (depth == uint.MaxValue ? null : depth) : 0,
            Filter = Filter,
            Include = Include?.ToList() ?? [],
            Exclude = Exclude?.ToList() ?? [],
            Force = Force.IsPresent,
        };
        // Items are written from this (the pipeline's) thread as they stream in: PowerShell refuses output from others.
        foreach (var item in Sync.Enumerate(query.RunAsync(Drive, path)))
        {
            if (Stopping) break;
            WriteItemObject(item, item.FullName, item.IsDirectory);
        }
    });

    protected override void GetChildNames(string path, ReturnContainers returnContainers) => Guard(path, () =>
    {
        var query = new ChildItemQuery { Filter = Filter, Include = Include?.ToList() ?? [], Exclude = Exclude?.ToList() ?? [], Force = Force.IsPresent };
        foreach (var item in Sync.Enumerate(query.RunAsync(Drive, path)))
        {
            if (Stopping) break;
            WriteItemObject(item.Name, item.FullName, item.IsDirectory);
        }
    });

    protected override void NewItem(string path, string itemTypeName, object newItemValue) => Guard(path, () =>
    {
        var kind = ParseKind(itemTypeName);
        var value = newItemValue is null ? null : LanguagePrimitives.ConvertTo<string>(newItemValue);
        if (!ShouldProcess(path, $"New-Item {kind}")) return;
        var item = Sync.Run(ct => Items.NewAsync(path, kind, value, Force.IsPresent, null, ct));
        WriteItemObject(item, item.FullName, item.IsDirectory);
    });

    private static ItemKind ParseKind(string? typeName) => (typeName ?? "file").ToUpperInvariant() switch
    {
        "FILE" => ItemKind.File,
        "DIRECTORY" or "CONTAINER" => ItemKind.Directory,
        "SYMBOLICLINK" or "SYMLINK" => ItemKind.SymbolicLink,
        "HARDLINK" => ItemKind.HardLink,
        _ => throw new ArgumentException($"Item type '{typeName}' is not supported on CassaFS: use File, Directory, SymbolicLink or HardLink."),
    };

    protected override void RemoveItem(string path, bool recurse) => Guard(path, () =>
    {
        if (!ShouldProcess(path, recurse ? "Remove-Item -Recurse" : "Remove-Item")) return;
        Sync.Run(async ct => { await Items.RemoveAsync(path, recurse, ct).ConfigureAwait(false); return true; });
    });

    protected override void RenameItem(string path, string newName) => Guard(path, () =>
    {
        if (!ShouldProcess(path, $"Rename-Item to {newName}")) return;
        var item = Sync.Run(ct => Items.RenameAsync(path, newName, ct));
        WriteItemObject(item, item.FullName, item.IsDirectory);
    });

    protected override void MoveItem(string path, string destination) => Guard(path, () =>
    {
        if (!ShouldProcess(path, $"Move-Item to {destination}")) return;
        var item = Sync.Run(ct => Items.MoveAsync(path, destination, Force.IsPresent, ct));
        WriteItemObject(item, item.FullName, item.IsDirectory);
    });

    protected override void CopyItem(string path, string copyPath, bool recurse) => Guard(path, () =>
    {
        if (!ShouldProcess(path, $"Copy-Item to {copyPath}")) return;
        var item = Sync.Run(ct => Items.CopyAsync(path, copyPath, recurse, Force.IsPresent, ct));
        WriteItemObject(item, item.FullName, item.IsDirectory);
    });

    // ------------------------------------------------------------ content

    public IContentReader? GetContentReader(string path)
    {
        var p = DynamicParameters as CassaContentReaderParameters;
        var options = new ContentReadOptions
        {
            Encoding = TextEncodings.Parse(p?.Encoding),
            Raw = p?.Raw.IsPresent ?? false,
            AsByteStream = p?.AsByteStream.IsPresent ?? false,
            LockTimeout = p?.LockTimeoutSeconds is { } s ? TimeSpan.FromSeconds(s) : null,
        };
        try
        {
            var drive = Drive;
            return new ContentReaderAdapter(Sync.Run(ct => ContentReader.OpenAsync(drive, path, options, ct)));
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            WriteError(Errors.Record(e, path));
            return null;
        }
    }

    public object GetContentReaderDynamicParameters(string path) => new CassaContentReaderParameters();

    public IContentWriter? GetContentWriter(string path)
    {
        var p = DynamicParameters as CassaContentWriterParameters;
        // Add-Content tells the writer by seeking to the end before it writes (the adapter's Seek); until then the
        // writer replaces the content, truncating under its lock at the first write.
        var options = new ContentWriteOptions
        {
            Encoding = TextEncodings.Parse(p?.Encoding),
            AsByteStream = p?.AsByteStream.IsPresent ?? false,
            NoNewline = p?.NoNewline.IsPresent ?? false,
            LockTimeout = p?.LockTimeoutSeconds is { } s ? TimeSpan.FromSeconds(s) : null,
        };
        try
        {
            var drive = Drive;
            return new ContentWriterAdapter(Sync.Run(ct => ContentWriter.OpenAsync(drive, path, options, ct)));
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            WriteError(Errors.Record(e, path));
            return null;
        }
    }

    public object GetContentWriterDynamicParameters(string path) => new CassaContentWriterParameters();

    public void ClearContent(string path) => Guard(path, () =>
    {
        // Set-Content clears before it writes (with its own, writer parameters in the context); its writer already
        // replaces the content under the file's lock, so only Clear-Content itself (with these parameters) clears here.
        // A clear outside the lock would let another writer's content be cut, and a missing file is not an error then.
        if (DynamicParameters is not CassaClearContentParameters clear) return;
        if (!ShouldProcess(path, "Clear-Content")) return;
        var drive = Drive;
        var timeout = clear.LockTimeoutSeconds is { } s ? TimeSpan.FromSeconds(s) : (TimeSpan?)null;
        Sync.Run(async ct => { await ContentWriter.ClearAsync(drive, path, timeout, ct).ConfigureAwait(false); return true; });
    });

    public object ClearContentDynamicParameters(string path) => new CassaClearContentParameters();

    // ------------------------------------------------------------ properties

    public void GetProperty(string path, Collection<string> providerSpecificPickList) => Guard(path, () =>
    {
        var item = Sync.Run(ct => Items.GetAsync(path, ct));
        var all = PSObject.AsPSObject(item);
        var result = new PSObject();
        foreach (var property in all.Properties)
        {
            if (providerSpecificPickList is null || providerSpecificPickList.Count == 0 ||
                providerSpecificPickList.Any(n => new Wildcard(n).IsMatch(property.Name) || string.Equals(n, property.Name, StringComparison.OrdinalIgnoreCase)))
                result.Properties.Add(new PSNoteProperty(property.Name, property.Value));
        }
        WritePropertyObject(result, path);
    });

    public object? GetPropertyDynamicParameters(string path, Collection<string> providerSpecificPickList) => null;

    public void SetProperty(string path, PSObject propertyValue) => Guard(path, () =>
    {
        ArgumentNullException.ThrowIfNull(propertyValue);
        var pairs = propertyValue.Properties.Select(p => new KeyValuePair<string, object?>(p.Name, p.Value is PSObject o ? o.BaseObject : p.Value)).ToList();
        var changes = ItemPropertyChanges.FromPairs(pairs);
        if (!ShouldProcess(path, $"Set-ItemProperty {string.Join(", ", pairs.Select(p => p.Key))}")) return;
        var item = Sync.Run(ct => Items.SetPropertiesAsync(path, changes, ct));
        WritePropertyObject(PSObject.AsPSObject(item), path);
    });

    public object? SetPropertyDynamicParameters(string path, PSObject propertyValue) => null;

    public void ClearProperty(string path, Collection<string> propertyToClear) =>
        WriteError(Errors.Record(new NotSupportedException("CassaFS item properties cannot be cleared; set them with Set-ItemProperty."), path));

    public object? ClearPropertyDynamicParameters(string path, Collection<string> propertyToClear) => null;

    // ------------------------------------------------------------ plumbing

    private void Guard(string path, Action action)
    {
        try
        {
            action();
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            WriteError(Errors.Record(e, path));
        }
    }

    private T Guard<T>(string path, Func<T> action, T fallback)
    {
        try
        {
            return action();
        }
        catch (FileSystemException e) when (e.Errno is Errno.ENOENT or Errno.ENOTDIR)
        {
            return fallback;
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            WriteError(Errors.Record(e, path));
            return fallback;
        }
    }
}

/// <summary>Get-Content's reader over <see cref="ContentReader"/>.</summary>
internal sealed class ContentReaderAdapter(ContentReader reader) : IContentReader
{
    private bool _closed;

    // PowerShell asks for -ReadCount items per call (0 or less: all), and stops after -TotalCount itself.
    public IList Read(long readCount) => Sync.Run(ct => reader.ReadBlockAsync(readCount, ct)).ToList();

    public void Seek(long offset, SeekOrigin origin) => throw new NotSupportedException("Get-Content on CassaFS reads sequentially.");

    public void Close()
    {
        if (_closed) return;
        _closed = true;
        Sync.Run(async _ => { await reader.DisposeAsync().ConfigureAwait(false); return true; });
    }

    public void Dispose() => Close();
}

/// <summary>Set-Content / Add-Content's writer over <see cref="ContentWriter"/>.</summary>
internal sealed class ContentWriterAdapter(ContentWriter writer) : IContentWriter
{
    private bool _closed;

    public IList Write(IList content)
    {
        var items = content.Cast<object>().Select(o => o is PSObject p ? p.BaseObject : o).ToList();
        Sync.Run(async ct => { await writer.WriteAsync(items, ct).ConfigureAwait(false); return true; });
        return content;
    }

    public void Seek(long offset, SeekOrigin origin)
    {
        if (origin == SeekOrigin.End && offset == 0) Sync.Run(ct => writer.SeekToEndAsync(ct));
        else throw new NotSupportedException("CassaFS content writers replace the content or append to it (Add-Content); other seeks are not supported.");
    }

    public void Close()
    {
        if (_closed) return;
        _closed = true;
        Sync.Run(async _ => { await writer.DisposeAsync().ConfigureAwait(false); return true; });
    }

    public void Dispose() => Close();
}

/// <summary>Providers and cmdlets are synchronous: this is the one place that waits for the async logic.</summary>
internal static class Sync
{
    public static T Run<T>(Func<CancellationToken, Task<T>> work) => Task.Run(() => work(CancellationToken.None)).GetAwaiter().GetResult();

    public static void Run(Func<CancellationToken, Task> work) => Task.Run(() => work(CancellationToken.None)).GetAwaiter().GetResult();

    /// <summary>An async stream as a blocking one, so the caller's thread gets each item as it arrives.</summary>
    public static IEnumerable<T> Enumerate<T>(IAsyncEnumerable<T> source)
    {
        var e = source.GetAsyncEnumerator();
        try
        {
            while (Task.Run(() => e.MoveNextAsync().AsTask()).GetAwaiter().GetResult()) yield return e.Current;
        }
        finally
        {
            Task.Run(() => e.DisposeAsync().AsTask()).GetAwaiter().GetResult();
        }
    }
}

/// <summary>ErrorRecords from the logic classes' exceptions, with the category <see cref="Failure"/> chose.</summary>
internal static class Errors
{
    public static ErrorRecord Record(Exception exception, object? target)
    {
        var failure = Failure.Of(exception, target?.ToString());
        var category = Enum.TryParse<ErrorCategory>(failure.Category, out var c) ? c : ErrorCategory.NotSpecified;
        // PowerShell's own cmdlets recognise a missing item by this type (Set-Content ignores it when it clears a new file).
        if (failure.ErrorId == "ItemNotFound") exception = new ItemNotFoundException(failure.Message, exception);
        return new ErrorRecord(exception, failure.ErrorId, category, failure.Target ?? target)
        {
            ErrorDetails = new ErrorDetails(failure.Message),
        };
    }
}
