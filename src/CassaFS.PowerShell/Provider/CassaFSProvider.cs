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
public sealed class CassaFSProvider : NavigationCmdletProvider, IContentCmdletProvider, IPropertyCmdletProvider, ICmdletProviderSupportsHelp
{
    /// <summary>Get-Help &lt;cmdlet&gt; -Path cassa:/...: the cmdlet's help on this drive, with the parameters the drive adds.</summary>
    public string GetHelpMaml(string helpItemName, string path) => ProviderHelp.CmdletHelp(ProviderInfo?.Module?.ModuleBase, helpItemName);

    private readonly StopSignal _stop = new();

    /// <summary>Cancelled when the command is stopped (Ctrl+C): every wait on the servers takes it.</summary>
    private CancellationToken StopToken => _stop.Token(Stopping);

    protected override void StopProcessing() => _stop.Stop();

    // ------------------------------------------------------------ drives

    protected override object NewDriveDynamicParameters() => new CassaDriveParameters();

    protected override PSDriveInfo? NewDrive(PSDriveInfo drive)
    {
        ArgumentNullException.ThrowIfNull(drive);
        var parameters = DynamicParameters as CassaDriveParameters ?? new CassaDriveParameters();
        try
        {
            var settings = parameters.ToDriveParameters(drive.Credential);
            var root = FileSystemRoot(drive.Root);
            var session = StopToken.Wait(ct => CassaDriveSession.OpenAsync(settings, root, true, null, ct));
            // PowerShell sees the root as "name:/": every provider path is then drive-qualified (see ProviderPath.DriveRoot);
            // the filesystem directory the drive stands on is the session's Root.
            var named = new PSDriveInfo(drive.Name, drive.Provider, ProviderPath.DriveRoot(drive.Name), drive.Description, drive.Credential);
            session.DriveName = drive.Name;
            // "~" on a cassa: drive: PowerShell keeps one Home per provider, so it is the root of the first drive made.
            if (string.IsNullOrEmpty(ProviderInfo.Home)) ProviderInfo.Home = ProviderPath.DriveRoot(drive.Name);
            return new CassaDriveInfo(named, session);
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            WriteError(Errors.Record(e, drive.Root));
            return null;
        }
    }

    /// <summary>-Root as a filesystem path: "/" when empty; "cassa:/sub" (resolved by PowerShell on an existing drive) below that drive's root.</summary>
    private string FileSystemRoot(string? given)
    {
        if (string.IsNullOrEmpty(given)) return "/";
        return ProviderPath.DriveNameOf(given) is not null && CassaDrives.Named(SessionState, ProviderPath.DriveNameOf(given)!) is { } other
            ? other.Session.Resolve(given)
            : ProviderPath.Normalize(given);
    }

    protected override PSDriveInfo? RemoveDrive(PSDriveInfo drive)
    {
        if (drive is CassaDriveInfo cassa) CancellationToken.None.Wait(_ => cassa.Session.DisposeAsync().AsTask());
        return drive;
    }

    /// <summary>The drive a provider path is on (a piped item's PSPath carries no drive, only its "cassa:/" prefix).</summary>
    private CassaDriveInfo DriveOf(string path) => CassaDrives.Holding(SessionState, PSDriveInfo, path);

    private ItemOperations Items(string path) => new(DriveOf(path).Session);

    /// <summary>What PowerShell gets as an item's path (its PSPath, PSParentPath, PSChildName).</summary>
    private static string OutputPath(CassaDriveInfo drive, string fullName) => ProviderPath.OnDrive(drive.Name, drive.Session.Root, fullName);

    private void WriteItem(CassaDriveInfo drive, ItemView item) => WriteItemObject(item, OutputPath(drive, item.FileSystemPath), item.IsDirectory);

    // ------------------------------------------------------------ paths

    protected override bool IsValidPath(string path) => !string.IsNullOrEmpty(path) && !path.Contains('\0', StringComparison.Ordinal);

    protected override string MakePath(string parent, string child) => ProviderPath.MakePath(parent, child);

    protected override string GetParentPath(string path, string root) => ProviderPath.ParentPath(path, root);

    protected override string GetChildName(string path) => ProviderPath.ChildName(path);

    protected override string NormalizeRelativePath(string path, string basePath) => ProviderPath.RelativeTo(path, basePath);

    protected override bool ItemExists(string path) => Guard(path, () =>
    {
        var items = Items(path);
        if (DynamicParameters is not CassaItemExistsParameters { OlderThan: not null } and not CassaItemExistsParameters { NewerThan: not null })
            return StopToken.Wait(ct => items.ExistsAsync(path, PathKind.Any, ct));
        var when = (DynamicParameters as CassaItemExistsParameters)!;
        var item = StopToken.Wait(ct => items.GetAsync(path, ct));
        return (when.OlderThan is not { } older || item.LastWriteTime < older) && (when.NewerThan is not { } newer || item.LastWriteTime > newer);
    }, false);

    protected override object ItemExistsDynamicParameters(string path) => new CassaItemExistsParameters();

    protected override bool IsItemContainer(string path) => Guard(path, () => StopToken.Wait(ct => Items(path).IsContainerAsync(path, ct)), false);

    protected override bool HasChildItems(string path) => Guard(path, () => StopToken.Wait(ct => Items(path).HasChildrenAsync(path, ct)), false);

    // ------------------------------------------------------------ items

    protected override void GetItem(string path) => Guard(path, () =>
    {
        var drive = DriveOf(path);
        var item = StopToken.Wait(ct => new ItemOperations(drive.Session).GetAsync(path, ct));
        if (item.IsHidden && !Force) WriteError(Errors.HiddenItem(path));
        else WriteItem(drive, item);
    });

    protected override void GetChildItems(string path, bool recurse) => GetChildItems(path, recurse, uint.MaxValue);

    protected override object GetChildItemsDynamicParameters(string path, bool recurse) => new CassaChildItemParameters();

    // PowerShell recurses itself (through GetChildNames) when -Include or -Exclude is given, so they never reach here.
    protected override void GetChildItems(string path, bool recurse, uint depth) => Guard(path, () =>
    {
        var drive = DriveOf(path);
        var query = ChildQuery(DynamicParameterValues.Read<CassaChildItemParameters>(DynamicParameters)) with
        {
            Recurse = recurse,
            Depth = recurse ? (depth == uint.MaxValue ? null : depth) : 0,
            Include = Include?.ToList() ?? [],
            Exclude = Exclude?.ToList() ?? [],
        };
        if (!query.Force && ProviderPath.ChildName(path).StartsWith('.') && !StopToken.Wait(ct => Items(path).IsContainerAsync(path, ct)))
        {
            WriteError(Errors.HiddenItem(path)); // a dot-file named alone needs -Force, as on the FileSystem provider
            return;
        }
        // Items are written from this (the pipeline's) thread as they stream in: PowerShell refuses output from others.
        foreach (var item in StopToken.Enumerate(ct => query.RunAsync(drive.Session, path, ct)))
        {
            if (Stopping) break;
            WriteItem(drive, item);
        }
    });

    protected override object GetChildNamesDynamicParameters(string path) => new CassaChildItemParameters();

    // Names only, one level: PowerShell globs, recurses (-Name -Recurse, -Include/-Exclude) and applies -Include/-Exclude
    // itself. ReturnAllContainers asks for every directory whatever -Filter says, so that it can descend into them.
    protected override void GetChildNames(string path, ReturnContainers returnContainers) => Guard(path, () =>
    {
        var drive = DriveOf(path);
        var query = ChildQuery(DynamicParameterValues.Read<CassaChildItemParameters>(DynamicParameters)) with
        {
            AllContainers = returnContainers == ReturnContainers.ReturnAllContainers,
        };
        foreach (var item in StopToken.Enumerate(ct => query.RunAsync(drive.Session, path, ct)))
        {
            if (Stopping) break;
            WriteItemObject(item.Name, OutputPath(drive, item.FileSystemPath), item.IsDirectory);
        }
    });

    /// <summary>Get-ChildItem's dynamic parameters (and the provider's -Filter and -Force) as a query.</summary>
    private ChildItemQuery ChildQuery(CassaChildItemParameters? p)
    {
        var attributes = p?.Attributes;
        return new ChildItemQuery
        {
            Filter = Filter,
            Force = Force.IsPresent || (p?.Hidden.IsPresent ?? false),
            DirectoriesOnly = p?.Directory.IsPresent ?? false,
            FilesOnly = p?.File.IsPresent ?? false,
            HiddenOnly = p?.Hidden.IsPresent ?? false,
            ReadOnlyOnly = p?.ReadOnly.IsPresent ?? false,
            Attributes = attributes is null ? null : a => attributes.Evaluate(a),
            FollowSymlinks = p?.FollowSymlink.IsPresent ?? false,
        };
    }

    protected override void NewItem(string path, string itemTypeName, object newItemValue) => Guard(path, () =>
    {
        var kind = ItemKinds.Parse(itemTypeName);
        var value = newItemValue is null ? null : LanguagePrimitives.ConvertTo<string>(newItemValue);
        if (!ShouldProcess(path, $"New-Item {kind}")) return;
        var drive = DriveOf(path);
        // A link's target given as a PowerShell path ("cassa:/a/b") is stored as the filesystem's own path, so the link
        // works through a mount too; a relative target stays relative, as on the FileSystem provider.
        if (kind is ItemKind.SymbolicLink or ItemKind.HardLink && value is not null && ProviderPath.DriveNameOf(value) is { } targetDrive)
            value = CassaDrives.Holding(SessionState, PSDriveInfo, value).Session.Resolve(value);
        WriteItem(drive, StopToken.Wait(ct => new ItemOperations(drive.Session).NewAsync(path, kind, value, Force.IsPresent, null, ct)));
    }, ErrorContexts.For(ItemKinds.TryParse(itemTypeName)));

    protected override void RemoveItem(string path, bool recurse) => Guard(path, () =>
    {
        if (!ShouldProcess(path, recurse ? "Remove-Item -Recurse" : "Remove-Item")) return;
        StopToken.Wait(async ct => { await Items(path).RemoveAsync(path, recurse, ct).ConfigureAwait(false); return true; });
    });

    protected override void RenameItem(string path, string newName) => Guard(path, () =>
    {
        if (!ShouldProcess(path, $"Rename-Item to {newName}")) return;
        var drive = DriveOf(path);
        WriteItem(drive, StopToken.Wait(ct => new ItemOperations(drive.Session).RenameAsync(path, newName, ct)));
    }, ErrorContext.Rename);

    protected override void MoveItem(string path, string destination) => Guard(path, () =>
    {
        if (!ShouldProcess(path, $"Move-Item to {destination}")) return;
        var (drive, target) = Destination(path, destination, "Move-Item");
        WriteItem(drive, StopToken.Wait(ct => new ItemOperations(drive.Session).MoveAsync(path, target, Force.IsPresent, ct)));
    }, ErrorContext.Move);

    protected override void CopyItem(string path, string copyPath, bool recurse) => Guard(path, () =>
    {
        if (!ShouldProcess(path, $"Copy-Item to {copyPath}")) return;
        var (drive, target) = Destination(path, copyPath, "Copy-Item");
        WriteItem(drive, StopToken.Wait(ct => new ItemOperations(drive.Session).CopyAsync(path, target, recurse, Force.IsPresent, ct)));
    }, ErrorContext.Copy);

    /// <summary>
    /// The source's drive and the destination as a filesystem path. The destination may be on another cassa: drive (with
    /// its own root), which must stand on the same filesystem.
    /// </summary>
    private (CassaDriveInfo Drive, string Target) Destination(string path, string destination, string verb)
    {
        var from = DriveOf(path);
        var to = DriveOf(destination);
        if (!from.Session.SharesFileSystemWith(to.Session))
            throw new FileSystemException(Errno.EXDEV, destination, $"{verb} works within one CassaFS filesystem; drive {to.Name}: is another one (copy with Get-Content | Set-Content instead)");
        return (from, to.Session.Resolve(destination));
    }

    // ------------------------------------------------------------ content

    public IContentReader? GetContentReader(string path)
    {
        var p = DynamicParameterValues.Read<CassaContentReaderParameters>(DynamicParameters);
        var options = new ContentReadOptions
        {
            Encoding = TextEncodings.From(p?.Encoding),
            Raw = p?.Raw.IsPresent ?? false,
            AsByteStream = p?.AsByteStream.IsPresent ?? false,
            LockTimeout = p?.LockTimeoutSeconds is { } s ? TimeSpan.FromSeconds(s) : null,
            Delimiter = p?.Delimiter,
            Follow = p?.Wait.IsPresent ?? false,
            Stopped = () => Stopping,
        };
        if (options.AsByteStream && p?.Encoding is not null) WriteWarning(EncodingNotUsed);
        try
        {
            var drive = DriveOf(path).Session;
            return new ContentReaderAdapter(StopToken.Wait(ct => ContentReader.OpenAsync(drive, path, options, ct)), () => StopToken);
        }
        catch (FileSystemException e) when (e.Errno == Errno.EISDIR)
        {
            // The reader found a directory: FileSystem's own error for it, without a second lookup beforehand.
            WriteError(Errors.ContainerContent(DriveOf(path).Session.Resolve(path)));
            return null;
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
        var p = DynamicParameterValues.Read<CassaContentWriterParameters>(DynamicParameters);
        // Add-Content tells the writer by seeking to the end before it writes (the adapter's Seek); until then the
        // writer replaces the content, truncating under its lock at the first write.
        var options = new ContentWriteOptions
        {
            Encoding = TextEncodings.From(p?.Encoding),
            AsByteStream = p?.AsByteStream.IsPresent ?? false,
            NoNewline = p?.NoNewline.IsPresent ?? false,
            LockTimeout = p?.LockTimeoutSeconds is { } s ? TimeSpan.FromSeconds(s) : null,
        };
        if (options.AsByteStream && p?.Encoding is not null) WriteWarning(EncodingNotUsed);
        try
        {
            var drive = DriveOf(path).Session;
            return new ContentWriterAdapter(StopToken.Wait(ct => ContentWriter.OpenAsync(drive, path, options, ct)), () => StopToken);
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
        var drive = DriveOf(path).Session;
        var timeout = clear.LockTimeoutSeconds is { } s ? TimeSpan.FromSeconds(s) : (TimeSpan?)null;
        StopToken.Wait(async ct => { await ContentWriter.ClearAsync(drive, path, timeout, ct).ConfigureAwait(false); return true; });
    });

    public object ClearContentDynamicParameters(string path) => new CassaClearContentParameters();

    // ------------------------------------------------------------ properties

    public void GetProperty(string path, Collection<string> providerSpecificPickList) => Guard(path, () =>
    {
        var item = StopToken.Wait(ct => Items(path).GetAsync(path, ct));
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
        var item = StopToken.Wait(ct => Items(path).SetPropertiesAsync(path, changes, ct));
        WritePropertyObject(PSObject.AsPSObject(item), path);
    });

    public object? SetPropertyDynamicParameters(string path, PSObject propertyValue) => null;

    public void ClearProperty(string path, Collection<string> propertyToClear) =>
        WriteError(Errors.Record(new NotSupportedException("CassaFS item properties cannot be cleared; set them with Set-ItemProperty."), path));

    public object? ClearPropertyDynamicParameters(string path, Collection<string> propertyToClear) => null;

    // ------------------------------------------------------------ plumbing

    /// <summary>The FileSystem provider's warning, word for word.</summary>
    private const string EncodingNotUsed = "Encoding not used when '-AsByteStream' specified.";

    private void Guard(string path, Action action, ErrorContext context = ErrorContext.None)
    {
        try
        {
            action();
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            WriteError(Errors.Record(e, path, context));
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
internal sealed class ContentReaderAdapter(ContentReader reader, Func<CancellationToken> stopToken) : IContentReader
{
    private bool _closed;

    // PowerShell asks for -ReadCount items per call (0 or less: all), and stops after -TotalCount itself.
    public IList Read(long readCount) => stopToken().Wait(ct => reader.ReadBlockAsync(readCount, ct)).ToList();

    public void Seek(long offset, SeekOrigin origin) => throw new NotSupportedException("Get-Content on CassaFS reads sequentially.");

    public void Close()
    {
        if (_closed) return;
        _closed = true;
        CancellationToken.None.Wait(async _ => { await reader.DisposeAsync().ConfigureAwait(false); return true; });
    }

    public void Dispose() => Close();
}

/// <summary>Set-Content / Add-Content's writer over <see cref="ContentWriter"/>.</summary>
internal sealed class ContentWriterAdapter(ContentWriter writer, Func<CancellationToken> stopToken) : IContentWriter
{
    private bool _closed;

    public IList Write(IList content)
    {
        var items = content.Cast<object>().Select(o => o is PSObject p ? p.BaseObject : o).ToList();
        stopToken().Wait(ct => writer.WriteAsync(items, ct));
        return content;
    }

    public void Seek(long offset, SeekOrigin origin)
    {
        if (origin == SeekOrigin.End && offset == 0) stopToken().Wait(ct => writer.SeekToEndAsync(ct));
        else throw new NotSupportedException("CassaFS content writers replace the content or append to it (Add-Content); other seeks are not supported.");
    }

    public void Close()
    {
        if (_closed) return;
        _closed = true;
        CancellationToken.None.Wait(async _ => { await writer.DisposeAsync().ConfigureAwait(false); return true; });
    }

    public void Dispose() => Close();
}

/// <summary>ErrorRecords from the logic classes' exceptions, with the category <see cref="Failure"/> chose.</summary>
internal static class Errors
{
    public static ErrorRecord Record(Exception exception, object? target, ErrorContext context = ErrorContext.None)
    {
        // PowerShell's own errors (a -Path that matches nothing, a drive that does not exist) keep their record.
        if (exception is SessionStateException { ErrorRecord: { } own }) return own;
        var failure = Failure.Of(exception, target?.ToString(), context);
        var category = Enum.TryParse<ErrorCategory>(failure.Category, out var c) ? c : ErrorCategory.NotSpecified;
        // PowerShell's own cmdlets recognise a missing item by this type (Set-Content ignores it when it clears a new file).
        if (failure.ErrorId == "ItemNotFound") exception = new ItemNotFoundException(failure.Message, exception);
        return new ErrorRecord(exception, failure.ErrorId, category, failure.Target ?? target)
        {
            ErrorDetails = new ErrorDetails(failure.Message),
        };
    }

    /// <summary>A dot-file asked for without -Force: the FileSystem provider's "ItemNotFound" on Unix.</summary>
    public static ErrorRecord HiddenItem(string path) =>
        new(new IOException($"Could not find item {path}. It is hidden (its name starts with '.'): add -Force."), "ItemNotFound", ErrorCategory.ObjectNotFound, path);

    /// <summary>Get-Content of a directory: the FileSystem provider's "GetContainerContentException".</summary>
    public static ErrorRecord ContainerContent(string path) =>
        new(new InvalidOperationException($"Unable to get content because it is a directory: '{path}'. Please use 'Get-ChildItem' instead."), "GetContainerContentException", ErrorCategory.InvalidOperation, path);
}
