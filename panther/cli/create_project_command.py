"""`panther create [project_name] [directory] [options]`: write a new project from `panther.cli.template`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from rich.panel import Panel
from rich.prompt import Prompt
from rich.text import Text

from panther.cli import template
from panther.cli._output import cli_error, stdout_console
from panther.cli.template import Template

__all__ = ['CreateProject', 'create']

DATABASES = {'0': 'pantherdb', '1': 'mongodb', '2': 'none'}
_YES, _NO = {'y', 'yes'}, {'n', 'no'}
_FLAGS = '--single-file, --database pantherdb|mongodb|none, --redis, --jwt'


@dataclasses.dataclass
class ProjectOptions:
    name: str = ''
    directory: str = '.'
    single_file: bool = False
    database: str = 'pantherdb'
    redis: bool = False
    jwt: bool = False


def _exists_message(path: Path | str) -> str:
    return f'"{path}" directory already exists.'


class CreateProject:
    """Asks for (or reads from the arguments) the project's options, then writes its files."""

    def create(self, args: list[str]) -> None:
        try:
            options = self._from_arguments(args) if args else self._ask()
        except KeyboardInterrupt:
            stdout_console().print(Text('Keyboard Interrupt'))
            return
        except EOFError:
            cli_error('The input ended before every question was answered; nothing was written.')
        files = _files(options)
        collision = _first_collision(Path(options.directory), files)
        if collision is not None:
            cli_error(_exists_message(collision))
        _write(Path(options.directory), files)
        _print_next_steps(options)

    # --- non-interactive ----------------------------------------------------------------------------------------

    @staticmethod
    def _from_arguments(args: list[str]) -> ProjectOptions:
        options = ProjectOptions()
        positional: list[str] = []
        remaining = iter(args)
        for argument in remaining:
            if argument == '--single-file':
                options.single_file = True
            elif argument == '--redis':
                options.redis = True
            elif argument == '--jwt':
                options.jwt = True
            elif argument == '--database' or argument.startswith('--database='):
                value = argument.partition('=')[2] if '=' in argument else next(remaining, '')
                if value.lower() not in DATABASES.values():
                    cli_error(f'"--database" should be one of pantherdb, mongodb, none; not "{value}".')
                options.database = value.lower()
            elif argument.startswith('-'):
                cli_error(f'Unknown option "{argument}" for "create"; the options are {_FLAGS}.')
            else:
                positional.append(argument)
        if not positional:
            cli_error('The "create" command needs a project name, e.g. "panther create blog blog/".')
        if len(positional) > 2:
            cli_error('Too Many Arguments.')
        options.name = _project_name(positional[0])
        if not options.name:
            cli_error('The project name cannot be empty.')
        options.directory = positional[1] if len(positional) > 1 else '.'
        if options.jwt and options.database == 'none':
            cli_error('"--jwt" needs a database for its users; drop "--database none".')
        return options

    # --- interactive --------------------------------------------------------------------------------------------

    def _ask(self) -> ProjectOptions:
        options = ProjectOptions()
        while not options.name:
            options.name = _project_name(self._answer('Project name'))
        while True:
            options.directory = self._answer('Directory', default='.')
            if options.directory == '.' or not Path(options.directory).exists():
                break
            stdout_console().print(Text(_exists_message(options.directory), style='red'))
        options.single_file = self._yes_no('Single-file project?', default=False)
        options.database = DATABASES[
            self._choice('Database: 0) PantherDB (embedded)  1) MongoDB  2) None', DATABASES, default='0')
        ]
        options.redis = self._yes_no('Use Redis (cache, throttling and logouts shared by every worker)?', default=False)
        if options.database != 'none':
            options.jwt = self._yes_no('JWT authentication?', default=False)
        return options

    @staticmethod
    def _answer(question: str, default: str | None = None) -> str:
        # `Prompt` reads through the built-in input(), so answers can be piped in.
        answer = Prompt.ask(question, default=default, console=stdout_console()) if default else Prompt.ask(question)
        return (answer or '').strip().lower()

    def _choice(self, question: str, choices: dict[str, str], default: str) -> str:
        while True:
            answer = self._answer(question, default=default)
            if answer in choices:
                return answer
            stdout_console().print(Text(f'Answer one of {", ".join(choices)}.', style='red'))

    def _yes_no(self, question: str, default: bool) -> bool:
        while True:
            answer = self._answer(f'{question} (y/n)', default='y' if default else 'n')
            if answer in _YES | _NO:
                return answer in _YES
            stdout_console().print(Text('Answer y or n.', style='red'))


def _project_name(raw: str) -> str:
    return '_'.join(raw.strip().lower().split())


def _files(options: ProjectOptions) -> Template:
    from panther import __version__
    from panther.utils import generate_secret_key

    has_database = options.database != 'none'
    user_model = 'main.User' if options.single_file else 'app.models.User'
    snippets = {'pantherdb': template.PANTHERDB_SNIPPET, 'mongodb': template.MONGODB_SNIPPET, 'none': ''}
    readme_extra = ''
    if has_database:
        readme_extra += '\nCreate a user: `panther createuser main.py`.\n'
    readme_extra += 'Watch the requests live: `panther monitor` (in this directory, while the app runs).\n'
    values = {
        # Snippets first: they contain marks of their own.
        'DATABASE': snippets[options.database],
        'REDIS': template.REDIS_SNIPPET if options.redis else '',
        'AUTHENTICATION': template.AUTHENTICATION_SNIPPET if options.jwt else '',
        'REQUIREMENTS_EXTRA': ('pymongo\n' if options.database == 'mongodb' else '')
        + ('redis\n' if options.redis else ''),
        'README_EXTRA': readme_extra,
        'MODELS': template.MODELS_WITH_USER if has_database else template.MODELS_WITHOUT_DATABASE,
        'SINGLE_FILE_USER': template.SINGLE_FILE_USER if has_database else '',
        'USER_IMPORT': template.SINGLE_FILE_USER_IMPORT if has_database else '',
        'TIMEDELTA_IMPORT': template.TIMEDELTA_IMPORT if options.jwt else '',
        'USER_MODEL': user_model,
        'PROJECT_NAME': options.name,
        'SECRET_KEY': generate_secret_key(),
        'PANTHER_VERSION': __version__,
    }
    chosen = template.SINGLE_FILE_TEMPLATE if options.single_file else template.TEMPLATE
    return _filled(chosen, values)


def _filled(files: Template, values: dict[str, str]) -> Template:
    filled: Template = {}
    for name, content in files.items():
        if isinstance(content, dict):
            filled[name] = _filled(content, values)
            continue
        for key, value in values.items():
            content = content.replace('{{' + key + '}}', value)
        filled[name] = content
    return filled


def _first_collision(directory: Path, files: Template) -> Path | None:
    if str(directory) != '.' and directory.exists():
        return directory
    for name in files:
        if (directory / name).exists():
            return directory / name
    return None


def _write(directory: Path, files: Template) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if isinstance(content, dict):
            _write(directory / name, content)
        else:
            (directory / name).write_text(content, encoding='utf-8')


def _print_next_steps(options: ProjectOptions) -> None:
    steps = [f'cd {options.directory}'] if options.directory != '.' else []
    steps += ['pip install -r requirements.txt', 'panther run main:app --reload', 'pytest']
    body = Text(f'Project "{options.name}" created in {options.directory}\n\n' + '\n'.join(steps))
    stdout_console().print(Panel(body, title='Panther', title_align='left', expand=False))


create = CreateProject().create
