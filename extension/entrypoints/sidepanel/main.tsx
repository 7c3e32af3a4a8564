import { render } from 'preact';
import { PanelApp } from '../../src/ui/panel/PanelApp.tsx';
import '../../src/ui/styles/base.css';
import '../../src/ui/styles/panel.css';

render(<PanelApp />, document.getElementById('app')!);
