import { render } from 'preact';
import '../../src/ui/styles/base.css';
import '../../src/ui/popup/popup.css';
import { App } from '../../src/ui/popup/App.tsx';

render(<App />, document.getElementById('app')!);
